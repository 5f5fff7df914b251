"""The `storyboard` command line. Exit codes: 0 clean, 1 problems (or a failed
task), 2 usage or environment error. No traceback reaches the user."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from storyboard import __version__, scratch
from storyboard.errors import EnvironmentProblem, StoryboardError, UsageError
from storyboard.language.schema import STORYBOARD_SCHEMA
from storyboard.lint.engine import expand_paths, lint_file
from storyboard.lint.formatters import FORMATTERS
from storyboard.signals import interrupt_on_sigterm, interrupted_by

if TYPE_CHECKING:
    from storyboard.compile.compiler import Compilation

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def friendly(func: F) -> F:
    """Turn our own errors and the machine's into one line and an exit code, never a
    traceback; an exception group (asyncio's task groups) is judged by its first
    error. Anything else is a bug, and keeps its traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (StoryboardError, KeyboardInterrupt, OSError, BaseExceptionGroup) as exc:
            first: BaseException = exc
            while isinstance(first, BaseExceptionGroup) and first.exceptions:
                first = first.exceptions[0]
            said = _said(first)
            if said is None:
                raise
            click.echo(f"storyboard: {said[0]}", err=True)
            sys.exit(said[1])

    return wrapper  # type: ignore[return-value]


def _said(exc: BaseException) -> tuple[str, int] | None:
    """What to say about `exc` and the exit code; None for a bug."""
    if isinstance(exc, StoryboardError):
        usage = isinstance(exc, UsageError | EnvironmentProblem)
        return str(exc), EXIT_USAGE if usage else EXIT_PROBLEMS
    if isinstance(exc, KeyboardInterrupt):
        how = interrupted_by()
        return "interrupted" + (f" ({how.name})" if how != signal.SIGINT else ""), 128 + how
    if isinstance(exc, OSError):  # the disk, not the storyboard: a full disk, a bad --build-dir
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot use{where}: {exc.strerror or exc}", EXIT_USAGE
    return None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="storyboard")
def main() -> None:
    """Turn a storyboard written in YAML into a finished film."""
    interrupt_on_sigterm()


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format", "fmt", type=click.Choice(sorted(FORMATTERS)), default="text", show_default=True
)
@click.option("--strict", is_flag=True, help="Warnings count as errors for the exit code.")
@click.option("--check-urls", is_flag=True, help="Also fetch http(s) assets to check them.")
@click.option(
    "--allow-private-urls",
    is_flag=True,
    help="With --check-urls, also fetch from loopback and private hosts (intranet assets).",
)
@friendly
def lint(
    paths: tuple[str, ...], fmt: str, strict: bool, check_urls: bool, allow_private_urls: bool
) -> None:
    """Check storyboards (files, directories or globs) against the language and API rules."""
    files, missing = expand_paths(paths)
    for arg in missing:
        click.echo(f"storyboard: no storyboard found at {arg}", err=True)
    if missing:
        sys.exit(EXIT_USAGE)
    problems = []
    for file in files:
        result = lint_file(file, check_urls=check_urls, allow_private_urls=allow_private_urls)
        problems.extend(result.problems)
    output = FORMATTERS[fmt](problems, [str(f) for f in files])
    if output:
        click.echo(output)
    failing = [p for p in problems if p.is_error or strict]
    sys.exit(EXIT_PROBLEMS if failing else EXIT_OK)


@main.command()
@friendly
def schema() -> None:
    """Print the storyboard JSON Schema (for editors and validators)."""
    click.echo(json.dumps(json.loads(STORYBOARD_SCHEMA.read_text(encoding="utf-8")), indent=2))


def _existing_file(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{path}: no such file")
    return p


def _build_dir(story_path: Path, build_dir: str | None) -> Path:
    return Path(build_dir) if build_dir else story_path.parent / "build"


def _compile_or_report(story_path: Path) -> Compilation:
    """Lint + compile; on problems print them (text) and exit 1."""
    from storyboard.errors import InputProblems
    from storyboard.pipeline import compile_storyboard

    try:
        return compile_storyboard(story_path)
    except InputProblems as exc:
        click.echo(FORMATTERS["text"](exc.problems, [str(story_path)]), err=True)
        sys.exit(EXIT_PROBLEMS)


BUILD_DIR = click.option(
    "--build-dir", type=click.Path(file_okay=False), help="Default: build/ beside the storyboard."
)


def backend_option(why: str) -> Callable[[F], F]:
    return click.option(
        "--backend",
        type=click.Choice(["preview", "kirin"]),
        default="preview",
        show_default=True,
        help=why,
    )


@main.command(name="compile")
@click.argument("storyboard", type=click.Path(dir_okay=False))
@BUILD_DIR
@friendly
def compile_command(storyboard: str, build_dir: str | None) -> None:
    """Write plan.json and tasks/<id>.json: the exact requests, their graph and cost."""
    from storyboard.compile.compiler import write_plan

    path = _existing_file(storyboard)
    plan = _compile_or_report(path)
    out = write_plan(plan, _build_dir(path, build_dir))
    click.echo(
        f"{out}: {len(plan.tasks)} task(s), {plan.total_seconds:g} s, "
        f"estimated ${plan.total_cost:.2f}"
    )


@main.command()
@click.argument("storyboard", type=click.Path(dir_okay=False))
@backend_option("Whose clips count as cached (each backend has its own).")
@click.option("--base-url", help="kirin: provider base URL (else $KIRIN_BASE_URL).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Clip cache location.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@friendly
def plan(
    storyboard: str, backend: str, base_url: str | None, cache_dir: str | None, as_json: bool
) -> None:
    """Show what would run: tasks, shots, seconds, dependencies, cache hits, cost."""
    from storyboard.report import plan_rows, plan_table
    from storyboard.run.backends import backend_source
    from storyboard.run.cache import ClipCache

    path = _existing_file(storyboard)
    compiled = _compile_or_report(path).plan(_build_dir(path, None))
    cache = ClipCache(Path(cache_dir) if cache_dir else None, backend_source(backend, base_url))
    rows = plan_rows(compiled, cache)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    plan_table(compiled, rows)


@main.command()
@click.argument("storyboard", type=click.Path(dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True
)
@friendly
def graph(storyboard: str, fmt: str) -> None:
    """Print the task graph as Mermaid or Graphviz DOT."""
    from storyboard.report import graph_dot, graph_mermaid

    path = _existing_file(storyboard)
    compiled = _compile_or_report(path).plan(_build_dir(path, None))
    click.echo(graph_mermaid(compiled) if fmt == "mermaid" else graph_dot(compiled))


def _selection(plan: Compilation, values: tuple[str, ...]) -> frozenset[str]:
    """Task ids chosen by task id, scene id, or `+scene` (the scene and everything downstream)."""
    import networkx as nx

    chosen: set[str] = set()
    for value in values:
        downstream = value.startswith("+")
        name = value.removeprefix("+")
        matched = [t.id for t in plan.tasks if name in (t.id, t.scene)]
        if not matched:
            raise UsageError(f"--select/--force {value!r}: no such task or scene")
        for task_id in matched:
            chosen.add(task_id)
            if downstream:
                chosen.update(nx.descendants(plan.graph, task_id))
    return frozenset(chosen)


@main.command()
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

    path = _existing_file(storyboard)
    plan = _compile_or_report(path)
    build = _build_dir(path, build_dir)
    cache = ClipCache(Path(cache_dir) if cache_dir else None)
    forced = _selection(plan, force)
    only = (_selection(plan, select) | forced) if select else None
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


@main.command(name="stitch")
@click.argument("storyboard", type=click.Path(dir_okay=False))
@BUILD_DIR
@friendly
def stitch_command(storyboard: str, build_dir: str | None) -> None:
    """Re-cut the film from clips already rendered (sends nothing, renders nothing).

    Edits to `cut:`, `audio:` and `film:` need no render; a task whose payload
    changed since its clip was rendered is refused with its name."""
    from storyboard.compile.compiler import written_plan
    from storyboard.pipeline import build_lock, gather_clips, stitch_plan

    path = _existing_file(storyboard)
    plan = _compile_or_report(path)
    build = _build_dir(path, build_dir)
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


@main.command(name="mock-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--api-key", help="Accept only this bearer key (default: any non-empty key).")
@click.option(
    "--config",
    "config_json",
    help="Mock settings as JSON text or a JSON file (latency, fault rates, seed, ...).",
)
@friendly
def mock_server(host: str, port: int, api_key: str | None, config_json: str | None) -> None:
    """Serve the provider API on this machine, rendering previews, with fault injection."""
    from storyboard.mock.server import MockConfig, serve

    config = MockConfig.from_json(config_json) if config_json else MockConfig()
    if api_key:
        import dataclasses

        config = dataclasses.replace(config, api_key=api_key)
    click.echo(f"mock provider on http://{host}:{port} (stats: /_mock/stats)", err=True)
    serve(host, port, config)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False), default="storyboard.yaml")
@click.option("--title", default="My first film", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@friendly
def init(path: str, title: str, force: bool) -> None:
    """Write a starter storyboard that lints clean and renders with the preview backend."""
    from storyboard.language.starter import starter_storyboard

    target = Path(path)
    if target.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch.atomic_write(target, starter_storyboard(title))
    click.echo(f"wrote {target}; next: storyboard lint {target} && storyboard render {target}")
