"""`storyboard render` and `storyboard stitch`: make the clips, cut the film."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from storyboard.cli.common import (
    BUILD_DIR,
    EXIT_OK,
    EXIT_PROBLEMS,
    backend_option,
    build_dir_of,
    chosen_tasks,
    compile_or_report,
    existing_file,
    friendly,
)
from storyboard.errors import UsageError


@click.command()
@click.argument("storyboard", type=click.Path(dir_okay=False))
@backend_option("preview renders locally for free; kirin spends money.")
@BUILD_DIR
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Tasks in flight at once (lowered automatically on E1/429).",
)
@click.option("--max-cost", type=click.FloatRange(min=0), help="Refuse to spend more (USD).")
@click.option("--yes", is_flag=True, help="Do not ask before spending money.")
@click.option("--base-url", help="kirin: provider base URL (else $KIRIN_BASE_URL).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Clip cache location.")
@click.option("--force", multiple=True, help="Re-render this task or scene (repeatable).")
@click.option(
    "--select",
    multiple=True,
    help="Only render this task, scene, or +scene with its downstream (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON event per line on stdout.")
@friendly
def render(
    storyboard: str,
    backend: str,
    build_dir: str | None,
    jobs: int,
    max_cost: float | None,
    yes: bool,
    base_url: str | None,
    cache_dir: str | None,
    force: tuple[str, ...],
    select: tuple[str, ...],
    as_json: bool,
) -> None:
    """Lint, compile, render every task and stitch the film: one command."""
    from storyboard.pipeline import build_lock, render_plan
    from storyboard.run.backends import create_backend
    from storyboard.run.cache import ClipCache
    from storyboard.run.progress import JsonEvents, LiveProgress, PlainProgress
    from storyboard.run.record import RunOptions
    from storyboard.spend import assess

    path = existing_file(storyboard)
    plan = compile_or_report(path)
    build = build_dir_of(path, build_dir)
    cache = ClipCache(Path(cache_dir) if cache_dir else None)
    forced = chosen_tasks(plan, force)
    only = (chosen_tasks(plan, select) | forced) if select else None
    options = RunOptions(jobs=jobs, max_cost=max_cost, force=forced, only=only)
    chosen = create_backend(backend, work_dir=build / "preview", base_url=base_url)
    spend = assess(plan, chosen, cache, options, confirmed=yes)
    if spend.spends_money:
        click.echo(
            f"estimated cost: ${spend.to_pay:.2f} for {spend.tasks} task(s) "
            f"(list prices; the bill is the provider's usage.cost)",
            err=True,
        )
    if spend.over_budget:
        click.echo(
            f"storyboard: ${spend.to_pay:.2f} is over --max-cost ${max_cost:.2f}; nothing was sent",
            err=True,
        )
        sys.exit(EXIT_PROBLEMS)
    if spend.needs_confirmation:
        if not sys.stdin.isatty():
            raise UsageError("real spend needs confirmation: pass --yes")
        click.confirm("Spend it?", abort=True, err=True)
    if as_json:
        sink: Any = JsonEvents(sys.stdout)
    elif sys.stderr.isatty():
        sink = LiveProgress(plan.tasks)
    else:
        sink = PlainProgress(sys.stderr)
    with build_lock(build), sink:
        outcome = render_plan(plan, build, chosen, cache=cache, options=options, events=sink)
    _render_summary(outcome, as_json)
    sys.exit(EXIT_OK if outcome.report.ok else EXIT_PROBLEMS)


def _render_summary(outcome: Any, as_json: bool) -> None:
    report = outcome.report
    out = sys.stderr if as_json else sys.stdout
    failed = [r for r in report.results.values() if r.status in ("failed", "skipped")]
    for result in failed:
        click.echo(f"  {result.status}: {result.id}: {result.error}", file=out)
    rendered, cached = report.count("done"), report.count("cached")
    line = (
        f"{rendered} rendered, {cached} cached, {len(failed)} not rendered; "
        f"billed ${report.billed:.2f} this run"
    )
    if report.clips_cost > report.billed + 1e-9:
        line += f" (the film's clips cost ${report.clips_cost:.2f} when they were made)"
    if outcome.film is not None:
        film = outcome.film
        click.echo(f"film: {film.path} ({film.duration:.2f} s); {line}", file=out)
        click.echo(f"poster: {film.poster}; contact sheet: {film.contact_sheet}", file=out)
    elif report.ok:
        left = sorted(r.id for r in report.results.values() if r.status == "unselected")
        click.echo(
            f"no film yet: {', '.join(left)} not selected and not in the cache; {line}", file=out
        )
    else:
        click.echo(f"no film: some tasks did not render; {line}", file=out)


@click.command(name="stitch")
@click.argument("storyboard", type=click.Path(dir_okay=False))
@BUILD_DIR
@friendly
def stitch_command(storyboard: str, build_dir: str | None) -> None:
    """Re-cut the film from clips already rendered (sends nothing, renders nothing).

    Edits to `cut:`, `audio:` and `film:` need no render; a task whose payload
    changed since its clip was rendered is refused with its name."""
    from storyboard.compile.compiler import written_plan
    from storyboard.pipeline import build_lock, gather_clips, stitch_plan

    path = existing_file(storyboard)
    plan = compile_or_report(path)
    build = build_dir_of(path, build_dir)
    with build_lock(build):
        _, data = written_plan(plan, build)
        sources, unknown = gather_clips(data, build)
        if unknown:
            click.echo(
                f"storyboard: no render recorded for {', '.join(unknown)}: "
                "their clips in clips/ are used as they are",
                err=True,
            )
            sources.append("clips/ as found")
        film = stitch_plan(data, build)
    click.echo(
        f"film: {film.path} ({film.duration:.2f} s, {film.method}: {film.reason}); "
        f"clips from {', '.join(sources)}"
    )
    click.echo(f"poster: {film.poster}; contact sheet: {film.contact_sheet}")


COMMANDS: tuple[click.Command, ...] = (render, stitch_command)
