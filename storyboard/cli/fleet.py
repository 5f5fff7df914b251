"""`storyboard worker`, `storyboard status` and `storyboard render --database`: the
run stage on the durable engine, shared by many machines (`storyboard.fleet`)."""

from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from storyboard.cli.common import (
    BUILD_DIR,
    CACHE,
    DATABASE_ENV,
    EXIT_OK,
    EXIT_PROBLEMS,
    build_dir_of,
    compile_or_report,
    existing_file,
    friendly,
)
from storyboard.errors import UsageError

if TYPE_CHECKING:
    from storyboard.compile.compiler import Compilation
    from storyboard.fleet.coordinator import CacheShelf
    from storyboard.run.cache import ClipCache
    from storyboard.run.units import Units

DATABASE = click.option(
    "--database",
    envvar=DATABASE_ENV,
    required=True,
    help="The engine's database: postgresql://… (many machines) or sqlite:///path "
    "(else $STORYBOARD_DATABASE).",
)


@click.command()
@DATABASE
@CACHE
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    help="Takes this worker runs at once (never more than the account's limit in all).",
)
@click.option("--base-url", help="The provider's base URL (else $KIRIN_BASE_URL).")
@click.option(
    "--callback-url",
    metavar="URL",
    help="The public address of a `storyboard callback-server --database …`: the provider "
    "notifies it of every status change (R22), and polling is only the fallback.",
)
@friendly
def worker(
    database: str,
    cache: str | None,
    concurrency: int,
    base_url: str | None,
    callback_url: str | None,
) -> None:
    """Run the render workflows of the shared engine on this machine, until stopped.

    The provider's key, base URL and profile come from this machine's environment
    (KIRIN_API_KEY, KIRIN_BASE_URL, STORYBOARD_PROVIDER): the key never enters the
    database. Every worker shares the account's limit (the profile's
    account_concurrency)."""
    from storyboard.fleet.engine import check_database_url
    from storyboard.fleet.worker import WorkerSettings, run_worker
    from storyboard.provider.profile import load_profile
    from storyboard.run.backends import create_backend
    from storyboard.run.cache import open_cache
    from storyboard.run.progress import PlainProgress

    url = check_database_url(database)
    profile = load_profile(base_url=base_url)
    clips = open_cache(cache)
    callbacks = None
    if callback_url is not None:
        from storyboard.run.callbacks import load_key
        from storyboard.run.callbacks.address import check_callback_url

        callbacks = (load_key(), check_callback_url(callback_url))

    def say(line: str) -> None:
        click.echo(f"storyboard worker: {line}", err=True)

    settings = WorkerSettings(
        database=url,
        cache=clips,
        concurrency=concurrency,
        profile=profile,
        backend=lambda: create_backend("kirin", work_dir=Path("."), profile=profile),
        events=PlainProgress(sys.stderr),
        say=say,
        callbacks=callbacks,
    )
    stop = threading.Event()
    try:
        run_worker(settings, stop)
    except KeyboardInterrupt:
        say("stopped; its unfinished takes resume on another worker")
        raise


@click.command()
@click.argument("storyboard", type=click.Path(dir_okay=False))
@DATABASE
@CACHE
@click.option("--base-url", help="The provider's base URL (else $KIRIN_BASE_URL).")
@BUILD_DIR
@friendly
def status(
    storyboard: str,
    database: str,
    cache: str | None,
    base_url: str | None,
    build_dir: str | None,
) -> None:
    """How the storyboard's takes stand in the shared engine (sends nothing)."""
    from storyboard.fleet.coordinator import Coordinator
    from storyboard.fleet.engine import check_database_url, open_client
    from storyboard.run.cache import open_cache

    path = existing_file(storyboard)
    compiled = compile_or_report(path)
    url = check_database_url(database)
    clips = open_cache(cache)
    shelf_backend = _shelf_backend(base_url)
    build = build_dir_of(path, build_dir)
    plan, units, shelf = _units(compiled, build, shelf_backend, clips, write=False)
    jobs = _jobs(compiled, plan, units, shelf, cached=())
    states = Coordinator(open_client(url), jobs).states()
    counts: dict[str, int] = {}
    for label, state in states.items():
        words, kind = state.words(), state.kind
        if state.status is None and shelf.get(state.job.cache_key, state.job.take) is not None:
            words = kind = "in the cache"
        counts[kind] = counts.get(kind, 0) + 1
        click.echo(f"  {label}: {words}")
    summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
    click.echo(f"{len(states)} take(s): {summary}")


def fleet_pass(
    compiled: Compilation,
    path: Path,
    *,
    database: str,
    detach: bool,
    only: frozenset[str] | None,
    backend: str,
    build_dir: str | None,
    max_cost: float | None,
    yes: bool,
    base_url: str | None,
    cache: str | None,
    as_json: bool,
    **_: Any,
) -> int:
    """`render --database`: the takes to the engine's workers, then the film here."""
    from storyboard.cli.render import _render_summary, progress_sink, spend_gate
    from storyboard.fleet.coordinator import Coordinator, settled_results
    from storyboard.fleet.engine import check_database_url, open_client
    from storyboard.pipeline import build_lock, render_plan
    from storyboard.run.cache import open_cache
    from storyboard.run.record import RunOptions
    from storyboard.spend import assess

    if backend != "kirin":
        raise UsageError(
            "--database sends the takes to workers, which render on the provider: "
            "add --backend kirin (the preview draws on this machine and needs no workers)"
        )
    url = check_database_url(database)
    for message in compiled.stale_messages():
        click.echo(f"storyboard: warning: {message}", err=True)
    client = open_client(url)
    clips = open_cache(cache)
    shelf_backend = _shelf_backend(base_url)
    options = RunOptions(max_cost=max_cost, only=only)
    spend = assess(compiled, shelf_backend, clips, options, confirmed=yes)
    if not spend_gate(spend):
        return EXIT_PROBLEMS
    build = build_dir_of(path, build_dir)
    sink = progress_sink(spend.tasks, as_json)
    with build_lock(build), sink:
        plan, units, shelf = _units(compiled, build, shelf_backend, clips)
        wanted = {u.label for u in units if only is None or u.task.id in only}
        cached = {u.label for u in units if shelf.get(u.task.cache_key, u.number) is not None}
        jobs = _jobs(
            compiled,
            plan,
            units,
            shelf,
            cached=cached | (set(units.by_label) - wanted),
            budget=f"render-{uuid.uuid4().hex}",
            max_cost=max_cost,
        )
        coordinator = Coordinator(client, jobs)
        attached = coordinator.enqueue()
        if detach:
            click.echo(
                f"enqueued {len(jobs)} take(s) ({len(attached)} already in the engine, "
                f"{len(cached)} in the cache); `storyboard status {path} --database …` "
                "shows how they stand, `storyboard render` again collects the film",
                err=True,
            )
            return EXIT_OK
        sink({"event": "run_started", "tasks": len(units), "backend": "workers"})
        for label in sorted(cached & wanted):
            sink({"event": "task_cached", "task": label})
        states = coordinator.follow(sink)
        outcome = render_plan(
            compiled,
            build,
            shelf_backend,
            cache=clips,
            options=RunOptions(only=frozenset(), takes=frozenset()),
            events=_collecting(sink),
            settled=settled_results(states, coordinator.render),
        )
    _render_summary(outcome, as_json)
    return EXIT_OK if outcome.report.ok else EXIT_PROBLEMS


def _collecting(sink: Any) -> Any:
    """The events of collecting the clips, less what the workers' events said already."""

    def emit(event: dict[str, Any]) -> None:
        if "task" not in event and event.get("event") not in ("run_started", "run_finished"):
            sink(event)

    return emit


def _shelf_backend(base_url: str | None) -> CacheShelf:
    from storyboard.fleet.coordinator import CacheShelf
    from storyboard.provider.profile import load_profile
    from storyboard.run.backends.kirin import is_loopback, provider_source

    profile = load_profile(base_url=base_url)
    return CacheShelf(provider_source(profile), reads_local_files=is_loopback(profile.url("/")))


def _units(
    compiled: Compilation,
    build: Path,
    shelf_backend: CacheShelf,
    cache: ClipCache,
    *,
    write: bool = True,
) -> tuple[Any, Units, ClipCache]:
    """The plan (written to the build unless `write` is False), its takes, the shelf."""
    from storyboard.compile.compiler import written_plan
    from storyboard.run.units import plan_units

    plan = written_plan(compiled, build)[1] if write else compiled.plan(build)
    shelf = cache.for_source(shelf_backend.source)
    return plan, plan_units(plan, shelf, None), shelf


def _jobs(
    compiled: Compilation,
    plan: Any,
    units: Units,
    shelf: ClipCache,
    *,
    cached: Any,
    budget: str | None = None,
    max_cost: float | None = None,
) -> list[Any]:
    from storyboard.fleet.jobs import plan_jobs

    return plan_jobs(
        plan,
        units,
        shelf,
        story_dir=compiled.story.base_dir,
        assets_base_url=compiled.story.assets_base_url,
        cached=cached,
        budget=budget,
        max_cost=max_cost,
    )


COMMANDS: tuple[click.Command, ...] = (worker, status)
