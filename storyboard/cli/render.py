"""`storyboard render` and `storyboard stitch`: make the clips, cut the film."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from storyboard.cli.common import (
    BUILD_DIR,
    CACHE,
    DATABASE_ENV,
    EXIT_OK,
    EXIT_PROBLEMS,
    backend_option,
    build_dir_of,
    chosen_tasks,
    compile_or_report,
    existing_file,
    friendly,
    stacked,
)
from storyboard.errors import UsageError
from storyboard.language.takes import MAX_TAKES, Take

if TYPE_CHECKING:
    from storyboard.compile.compiler import Compilation
    from storyboard.run.callbacks import LocalHub
    from storyboard.spend import Spend

F = TypeVar("F", bound=Callable[..., Any])
CURRENT = "current: nothing it is cut from changed, so it was not cut again"


run_options = stacked(  # what `render` and `retake` share: where, on what, how fast, how much
    click.argument("storyboard", type=click.Path(dir_okay=False)),
    backend_option("preview renders locally for free; kirin spends money."),
    BUILD_DIR,
    click.option(
        "--jobs",
        type=click.IntRange(1, 64),
        default=4,
        show_default=True,
        help="Takes in flight at once (lowered automatically on E1/429).",
    ),
    click.option("--max-cost", type=click.FloatRange(min=0), help="Refuse to spend more (USD)."),
    click.option("--yes", is_flag=True, help="Do not ask before spending money."),
    click.option("--base-url", help="kirin: provider base URL (else $KIRIN_BASE_URL)."),
    CACHE,
    click.option("--json", "as_json", is_flag=True, help="Print a JSON event per line on stdout."),
    click.option(
        "--callback-url",
        metavar="URL",
        help="kirin: the provider notifies URL/<task>/<token> on every status change (R22); "
        "this render receives the notices and polls only as a fallback (docs/callbacks.md).",
    ),
    click.option(
        "--callback-listen",
        metavar="HOST:PORT",
        help="Where this render receives callbacks (default: the --callback-url's own "
        "address, when it is plain HTTP on loopback; port 0 there: any free port).",
    ),
)


@click.command()
@run_options
@click.option(
    "--force",
    multiple=True,
    help="Make a new take of this task or scene (as `retake X --count 1`; repeatable).",
)
@click.option(
    "--select",
    multiple=True,
    help="Only render this task, scene, or +scene with its downstream (repeatable).",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Keep running: render again on each save of the storyboard, its includes, "
    "assets or selection file (needs storyboard[watch]; kirin: needs --max-cost).",
)
@click.option(
    "--database",
    envvar=DATABASE_ENV,
    help="Send the takes to `storyboard worker` processes sharing this engine database "
    "(postgresql://… or sqlite:///path; else $STORYBOARD_DATABASE), then cut the film here.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="With --database: enqueue the takes and leave (`storyboard status` tells how they "
    "stand; `render` again collects the film).",
)
@friendly
def render(
    force: tuple[str, ...],
    select: tuple[str, ...],
    watch: bool,
    database: str | None,
    detach: bool,
    **common: Any,
) -> None:
    """Lint, compile, render every take and stitch the film: one command."""
    path = existing_file(common["storyboard"])
    if detach and not database:
        raise UsageError("--detach needs --database: the takes wait for workers in the engine")
    if database:
        if watch or force:
            raise UsageError("--database renders once: --watch and --force are for one machine")
        if common.get("callback_url") or common.get("callback_listen"):
            raise UsageError(
                "--callback-url works without --database only: the workers poll the provider"
            )
        from storyboard.cli.fleet import fleet_pass

        plan = compile_or_report(path)
        only = chosen_tasks(plan, select) if select else None
        sys.exit(fleet_pass(plan, path, database=database, detach=detach, only=only, **common))
    if watch:
        from storyboard.cli.watch import watch_storyboard

        if force:  # every save would make a new take, and pay for it
            raise UsageError("--force cannot be used with --watch: make takes with `retake`")
        sys.exit(watch_storyboard(path, select, common))
    plan = compile_or_report(path)
    forced = chosen_tasks(plan, force)
    if forced:
        click.echo(
            f"storyboard: --force {', '.join(force)} makes a new take of "
            f"{', '.join(sorted(forced))} (as `storyboard retake ... --count 1`); "
            "no clip is overwritten, and the film keeps its picked take",
            err=True,
        )
    only = (chosen_tasks(plan, select) | forced) if select else None
    code = render_pass(
        plan, path, retakes=dict.fromkeys(forced, 1), only=only, stitch_film=True, **common
    )
    sys.exit(code)


@click.command()
@run_options
@click.argument("targets", nargs=-1, required=True, metavar="TASK|SCENE...")
@click.option(
    "--count",
    type=click.IntRange(1, MAX_TAKES),
    default=1,
    show_default=True,
    help="New takes to make of each task.",
)
@friendly
def retake(targets: tuple[str, ...], count: int, **common: Any) -> None:
    """Add COUNT new takes to a task (a scene: each of its tasks), sent at once.

    Nothing is deleted or overwritten: every take is kept as TASK@K, and the
    film keeps the take it uses until you `storyboard pick` another."""
    path = existing_file(common["storyboard"])
    plan = compile_or_report(path)
    chosen = chosen_tasks(plan, targets, what="retake")
    code = render_pass(
        plan,
        path,
        retakes=dict.fromkeys(chosen, count),
        only=frozenset(),
        stitch_film=False,
        **common,
    )
    sys.exit(code)


def render_pass(
    plan: Compilation,
    path: Path,
    *,
    retakes: dict[str, int],
    only: frozenset[str] | None,
    stitch_film: bool,
    storyboard: str,
    backend: str,
    build_dir: str | None,
    jobs: int,
    max_cost: float | None,
    yes: bool,
    base_url: str | None,
    cache: str | None,
    as_json: bool,
    callback_url: str | None = None,
    callback_listen: str | None = None,
) -> int:
    """One pass over a compiled storyboard: the spend gate, the run, the film (unless
    `stitch_film` is False) and the summary. Returns the exit code rather than exiting,
    so that `render --watch` makes one pass per save with this very code."""
    from storyboard.pipeline import build_lock, render_plan
    from storyboard.run.backends import create_backend
    from storyboard.run.cache import open_cache
    from storyboard.run.record import RunOptions
    from storyboard.spend import assess

    for message in plan.stale_messages():
        click.echo(f"storyboard: warning: {message}", err=True)
    build = build_dir_of(path, build_dir)
    clips = open_cache(cache)
    options = RunOptions(jobs=jobs, max_cost=max_cost, retakes=retakes, only=only)
    hub = _callback_hub(backend, callback_url, callback_listen)
    chosen = create_backend(
        backend, work_dir=build / "preview", base_url=base_url, plan=plan, callbacks=hub
    )
    spend = assess(plan, chosen, clips, options, confirmed=yes)
    if not spend_gate(spend):
        return EXIT_PROBLEMS
    sink = progress_sink(spend.tasks, as_json)
    with build_lock(build), sink:
        outcome = render_plan(
            plan,
            build,
            chosen,
            cache=clips,
            options=options,
            events=sink,
            stitch_film=stitch_film,
        )
    _render_summary(outcome, as_json, retake=not stitch_film)
    if not stitch_film:
        _retake_summary(outcome, path, as_json)
    return EXIT_OK if outcome.report.ok else EXIT_PROBLEMS


def spend_gate(spend: Spend) -> bool:
    """Say what the run would spend, and ask when money is real; False: refused
    (over --max-cost), nothing is sent."""
    if spend.spends_money:
        click.echo(
            f"estimated cost: ${spend.to_pay:.2f} for {spend.tasks} take(s) "
            f"(list prices; the bill is the provider's usage.cost)",
            err=True,
        )
    if spend.over_budget:
        assert spend.max_cost is not None
        click.echo(
            f"storyboard: ${spend.to_pay:.2f} is over --max-cost ${spend.max_cost:.2f}; "
            "nothing was sent",
            err=True,
        )
        return False
    if spend.needs_confirmation:
        if not sys.stdin.isatty():
            raise UsageError("real spend needs confirmation: pass --yes")
        click.confirm("Spend it?", abort=True, err=True)
    return True


def progress_sink(takes: int, as_json: bool) -> Any:
    """JSON lines (`--json`), the live view on a terminal, else plain lines."""
    from storyboard.run.progress import JsonEvents, LiveProgress, PlainProgress

    if as_json:
        return JsonEvents(sys.stdout)
    if sys.stderr.isatty():
        return LiveProgress(takes)
    return PlainProgress(sys.stderr)


def _callback_hub(backend: str, url: str | None, listen: str | None) -> LocalHub | None:
    """The hub of `--callback-url`/`--callback-listen`, None without them: the run then
    polls as before."""
    if url is None:
        if listen is not None:
            raise UsageError("--callback-listen needs --callback-url (where the provider calls)")
        return None
    if backend != "kirin":
        raise UsageError(
            "--callback-url needs --backend kirin: the preview renders here and calls nobody back"
        )
    from storyboard.run.callbacks import LocalHub

    hub = LocalHub.for_render(url, listen)
    where = hub.listen_address
    assert where is not None  # a render's hub always serves
    said = (
        f"to {hub.base_url}/<task>/<token>, received on {where}"
        if where.port
        else f"received on a free port of {where.host}, which each task's URL names"
    )
    click.echo(
        f"storyboard: callbacks {said}; the status is still polled as a fallback "
        "(provider profile: callback_poll)",
        err=True,
    )
    return hub


def _render_summary(outcome: Any, as_json: bool, *, retake: bool = False) -> None:
    report = outcome.report
    out = sys.stderr if as_json else sys.stdout
    failed = [r for r in report.results.values() if r.status in ("failed", "skipped")]
    for result in failed:
        click.echo(f"  {result.status}: {result.id}: {result.error}", file=out)
    rendered, cached = report.count("done"), report.count("cached")
    line = f"{rendered} rendered, {cached} cached, {len(failed)} not rendered; {report.money()}"
    if retake:
        click.echo(f"retake: {line}", file=out)
    elif outcome.film is not None:
        film = outcome.film
        how = f", {CURRENT}" if film.reused else ""
        click.echo(f"film: {film.path} ({film.duration:.2f} s{how}); {line}", file=out)
        click.echo(f"poster: {film.poster}; contact sheet: {film.contact_sheet}", file=out)
    elif report.ok:
        left = sorted(r.id for r in report.results.values() if r.status == "unselected")
        click.echo(
            f"no film yet: {', '.join(left)} not selected and not in the cache; {line}", file=out
        )
    else:
        click.echo(f"no film: some tasks did not render; {line}", file=out)


def _retake_summary(outcome: Any, path: Path, as_json: bool) -> None:
    out = sys.stderr if as_json else sys.stdout
    made = [r for r in outcome.report.results.values() if r.status == "done" and not r.chosen]
    for result in made:
        take = Take(result.task, result.take)
        click.echo(
            f"new take {take} ({result.duration or 0:.2f} s); the film still uses its "
            f"picked take: `storyboard pick {path} {take.task} {take.number}` to use it",
            file=out,
        )


@click.command(name="stitch")
@click.argument("storyboard", type=click.Path(dir_okay=False))
@BUILD_DIR
@friendly
def stitch_command(storyboard: str, build_dir: str | None) -> None:
    """Re-cut the film from clips already rendered (sends nothing, renders nothing).

    Edits to `cut:`, `audio:` and `film:`, and picks of takes, need no render; a
    task whose payload changed since its clip was rendered is refused with its
    name (one built from another take upstream is used, and named)."""
    from storyboard.compile.compiler import written_plan
    from storyboard.pipeline import build_lock
    from storyboard.recut import MEASURES, gather_clips, stitch_plan
    from storyboard.run.cache import default_cache_dir

    path = existing_file(storyboard)
    plan = compile_or_report(path)
    build = build_dir_of(path, build_dir)
    with build_lock(build):
        _, data = written_plan(plan, build)
        found = gather_clips(data, build)
        sources = list(found.sources)
        if found.unknown:
            click.echo(
                f"storyboard: no render recorded for {', '.join(found.unknown)}: "
                "their clips in clips/ are used as they are",
                err=True,
            )
            sources.append("clips/ as found")
        if found.repicked:
            click.echo(
                f"storyboard: {', '.join(found.repicked)} were built from another take than "
                "the one picked upstream: used for this cut; the next `storyboard render` "
                "makes them from the picked take",
                err=True,
            )
        film = stitch_plan(data, build, memo=default_cache_dir() / MEASURES)
    how = CURRENT if film.reused else f"{film.method}: {film.reason}"
    click.echo(f"film: {film.path} ({film.duration:.2f} s, {how}); clips from {', '.join(sources)}")
    click.echo(f"poster: {film.poster}; contact sheet: {film.contact_sheet}")


COMMANDS: tuple[click.Command, ...] = (render, retake, stitch_command)
