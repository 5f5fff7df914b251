"""`storyboard takes`, `pick`, `reject` and `review`: the takes of each task, and
which one the film uses.

`pick` also marks the take good (a rejected take that is picked would not be
used otherwise); `reject` with the picked take removes the pick. Both print
what changed and what the next `render` or `stitch` will do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from storyboard.cli.common import (
    BUILD_DIR,
    CACHE,
    build_dir_of,
    compile_or_report,
    existing_file,
    friendly,
    stacked,
)

if TYPE_CHECKING:
    from storyboard.review.gather import Workspace


_where = stacked(  # where the takes are: the build, the backend's shelf
    BUILD_DIR,
    click.option(
        "--backend",
        type=click.Choice(["preview", "kirin"]),
        help="Whose cache shelf (default: the backend of the build's last run, else preview).",
    ),
    click.option("--base-url", help="kirin: provider base URL (else $KIRIN_BASE_URL)."),
    CACHE,
)


def _workspace(
    storyboard: str,
    build_dir: str | None,
    backend: str | None,
    base_url: str | None,
    cache: str | None,
) -> Workspace:
    from storyboard.review.gather import Workspace

    path = existing_file(storyboard)
    return Workspace.open(
        path,
        build_dir_of(path, build_dir),
        backend=backend,
        base_url=base_url,
        cache=cache,
    )


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.3f}"


@click.command()
@click.argument("storyboard", type=click.Path(dir_okay=False))
@_where
@click.option("--json", "as_json", is_flag=True, help="Print the takes and totals as JSON.")
@friendly
def takes(
    storyboard: str,
    build_dir: str | None,
    backend: str | None,
    base_url: str | None,
    cache: str | None,
    as_json: bool,
) -> None:
    """List every take of every task: status, seconds, cost, verdict, and the picks."""
    from rich.console import Console
    from rich.table import Table

    from storyboard.review.gather import gather

    workspace = _workspace(storyboard, build_dir, backend, base_url, cache)
    review = gather(compile_or_report(workspace.story_path), workspace)
    for line in (*review.problems, *review.stale):
        click.echo(f"storyboard: warning: {line}", err=True)
    if as_json:
        click.echo(json.dumps(review.to_json(), indent=2))
        return
    table = Table(title=f"{review.title}: {len(review.rows)} take(s) on {workspace.backend}")
    for name in ("task", "take", "status", "seconds", "cost", "verdict", "picked"):
        right = name in ("seconds", "cost")
        table.add_column(name, justify="right" if right else "left")
    for row in review.rows:
        table.add_row(
            row.task,
            row.address,
            row.status,
            "-" if row.seconds is None else f"{row.seconds:g}",
            _money(row.cost_usd),
            row.verdict or "-",
            "yes" if row.picked else "",
        )
    console = Console()
    console.print(table)
    film = ", ".join(r.address for r in review.rows if r.picked)
    click.echo(f"spent on all takes: {_money(review.spent_usd)}")
    click.echo(f"the film uses: {film} ({_money(review.film_usd)})")


_judging = stacked(  # what `pick` and `reject` take: which take, a note, where
    click.argument("storyboard", type=click.Path(dir_okay=False)),
    click.argument("task"),
    click.argument("take", required=False),
    click.option("--note", help="A note kept with the take (for a reject: why)."),
    _where,
    friendly,
)


def _judge(action: str, storyboard: str, task: str, take: str | None, **rest: Any) -> None:
    from storyboard.review import actions

    note = rest.pop("note")
    workspace = _workspace(storyboard, **rest)
    task_id, number = actions.parse_take(task, take)
    do = actions.pick if action == "pick" else actions.reject
    for line in do(workspace, task_id, number, note).lines():
        click.echo(line)


@click.command()
@_judging
def pick(storyboard: str, task: str, take: str | None, **rest: Any) -> None:
    """Make TAKE of TASK (or TASK@K) the one the film uses, and mark it good."""
    _judge("pick", storyboard, task, take, **rest)


@click.command()
@_judging
def reject(storyboard: str, task: str, take: str | None, **rest: Any) -> None:
    """Mark TAKE of TASK (or TASK@K) rejected; the film then uses another take."""
    _judge("reject", storyboard, task, take, **rest)


@click.command()
@click.argument("storyboard", type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8770, show_default=True, help="0: any free port.")
@click.option(
    "--static",
    "static_dir",
    type=click.Path(file_okay=False),
    help="Write the page as plain files here (read-only) instead of serving it.",
)
@_where
@friendly
def review(
    storyboard: str,
    host: str,
    port: int,
    static_dir: str | None,
    build_dir: str | None,
    backend: str | None,
    base_url: str | None,
    cache: str | None,
) -> None:
    """Serve a page to watch the film and every take, and to pick or reject takes."""
    workspace = _workspace(storyboard, build_dir, backend, base_url, cache)
    compile_or_report(workspace.story_path)  # problems: reported here, not on a page
    if static_dir is not None:
        from storyboard.review.page import export_static

        index = export_static(workspace, Path(static_dir))
        click.echo(f"wrote {index} (open it in a browser; read-only)")
        return
    from storyboard.review.server import serve

    serve(workspace, host, port)


COMMANDS: tuple[click.Command, ...] = (takes, pick, reject, review)
