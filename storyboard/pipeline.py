"""`storyboard render`: lint, compile, run the graph, stitch; one command.

An interrupted render (Ctrl-C, SIGTERM) says what it leaves, read from the
journal: the tasks still in flight at the provider, which the next render picks
up without paying twice, and the clips kept; interrupted in its stitch, that
`storyboard stitch` finishes the film.

Also `run.json`, which `stitch` writes too, and
`compile_storyboard`, lint then compile, which joins two stages that do not
know each other.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock, as before
    fcntl = None  # type: ignore[assignment]

from storyboard import scratch
from storyboard.compile.compiler import Compilation, compile_specs, written_plan
from storyboard.compile.plan import Plan
from storyboard.errors import (
    BudgetExceeded,
    EnvironmentProblem,
    InputProblems,
    Interrupted,
    JournalError,
)
from storyboard.film.cut import StitchResult
from storyboard.language.selection import record_takes, selection_path
from storyboard.lint.engine import lint_file
from storyboard.media import stop_children
from storyboard.provider.pricing import PriceTable, load_prices
from storyboard.recut import MEASURES, current_film, cut_film, film_job, film_record
from storyboard.run.backends.base import Backend
from storyboard.run.cache import ClipCache
from storyboard.run.executor import EventSink, Executor, RunOptions, RunReport, TaskResult
from storyboard.run.journal import Journal


def compile_storyboard(path: str | Path, prices: PriceTable | None = None) -> Compilation:
    """Lint, then compile, following the picks of the selection file beside the
    storyboard (a stale pick is not applied: `Compilation.stale_picks`). Raises
    InputProblems when lint finds errors, the selection file's included. `prices`:
    the price table (default: `load_prices()`, read once here). Lint compiles to
    judge a selection's picks; that compilation is the one returned, unless the
    caller gave its own prices (else, or if lint could not compile, it is made here)."""
    result = lint_file(path)
    if result.errors or result.story is None or result.context is None:
        raise InputProblems(result.problems)
    if prices is None and result.compilation is not None:
        return result.compilation
    table = prices if prices is not None else load_prices()
    return compile_specs(result.story, result.context.specs, table, result.selection)


@dataclass
class RenderOutcome:
    report: RunReport
    film: StitchResult | None


@contextmanager
def build_lock(build_dir: Path) -> Iterator[None]:
    """One `render` or `stitch` at a time in a build directory: two renders at once
    would race to send the same tasks and write the same clips. The lock is the
    kernel's (flock), so a killed process never leaves it behind."""
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "a+", encoding="utf-8") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise EnvironmentProblem(
                    f"{build_dir} is in use by another storyboard render or stitch "
                    f"({holder}); wait for it to finish, or give this one another --build-dir"
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        scratch.sweep(build_dir, recursive=True)  # a killed run's temporaries
        yield


def write_run_record(
    build_dir: Path,
    plan: Plan,
    report: RunReport,
    backend: Backend,
    film: StitchResult | None,
    *,
    state: str = "finished",
) -> Path:
    """Write run.json. `state`: `finished`, `stitching` (the clips are all there and
    the film is being cut: what a crash in the stitch leaves), or `interrupted`.
    Two sums of money, never mixed up: what the provider billed in this run, and
    what the film's clips cost when they were made (in this run or before)."""
    results = report.results
    order = {t.id: i for i, t in enumerate(plan.tasks)}
    ranked = sorted(results.values(), key=lambda r: (order.get(r.task, len(order)), r.take))
    data = {
        "backend": backend.name,
        "cache_source": backend.source,  # its clips' cache shelf (`storyboard takes` reads it)
        "state": state,
        "ok": report.ok,
        "wall_seconds": round(report.wall_seconds, 3),
        "tasks": {r.id: r.to_json() for r in ranked},  # every take, by label (TASK, TASK@2)
        "film_takes": {t.id: t.chosen.address for t in plan.tasks},
        "totals": {
            "tasks": len(plan.tasks),
            "takes": len(results),
            "rendered": report.count("done"),
            "cached": report.count("cached"),
            "failed": report.count("failed"),
            "skipped": report.count("skipped"),
            "unselected": report.count("unselected"),
            "billed_usd": round(report.billed, 4),
            "billed_this_run_usd": round(report.billed, 4),
            "clips_cost_usd": round(report.clips_cost, 4),
            "estimated_usd": plan.estimate.total_usd,
        },
        "film": None if film is None else film_record(film),
    }
    path = build_dir / "run.json"
    scratch.atomic_write(path, json.dumps(data, indent=2) + "\n")
    return path


def render_plan(
    compiled: Compilation,
    build_dir: Path,
    backend: Backend,
    *,
    cache: ClipCache,
    options: RunOptions,
    events: EventSink | None = None,
    stitch_film: bool = True,
    settled: Mapping[str, TaskResult] | None = None,
) -> RenderOutcome:
    """Write the plan, run it, and stitch the film when every clip it uses is there
    (unless `stitch_film` is False: `retake` adds takes and leaves the film as it is).

    `settled`: what workers made of the takes, by label (`render --database`): the
    run then only collects clips from the cache, and the report says what the
    workers did (a take they made is `done` and billed, one they could not make
    says why)."""
    _, plan = written_plan(compiled, build_dir)
    journal = Journal(build_dir / "journal.sqlite")
    try:
        executor = Executor(
            plan,
            build_dir,
            backend,
            cache=cache,
            journal=journal,
            story_dir=compiled.story.base_dir,
            assets_base_url=compiled.story.assets_base_url,
            events=events,
            options=options,
        )

        async def go() -> RunReport:
            async with backend:
                try:
                    return await executor.run()
                except (asyncio.CancelledError, KeyboardInterrupt):
                    # SIGINT or SIGTERM: the ffmpeg runs of the worker threads end
                    # now, or asyncio.run would wait for them before it returns.
                    stop_children()
                    raise

        try:
            report = asyncio.run(go())
        except BudgetExceeded:  # refused before anything was sent: nothing to record
            raise
        except BaseException as exc:  # Ctrl-C, SIGTERM, an error no task could settle
            so_far = executor.report_so_far()
            write_run_record(build_dir, plan, so_far, backend, None, state="interrupted")
            if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, Interrupted):
                try:
                    said = _interrupted(journal, executor, compiled.story.path, events)
                except JournalError:  # unreadable now: "interrupted", as before, is all
                    raise exc from None
                raise said from exc
            raise
    finally:
        journal.close()
    if settled:
        _take_settled(report, settled)
    film = None
    if report.complete and stitch_film:
        film = _film_of(
            plan, build_dir, report, backend, events, cache.root / MEASURES, compiled.story.path
        )
    write_run_record(build_dir, plan, report, backend, film)
    record_extra_takes(compiled, report)
    return RenderOutcome(report, film)


def _take_settled(report: RunReport, settled: Mapping[str, TaskResult]) -> None:
    """Fold what the workers made into the run that collected their clips."""
    for label, theirs in settled.items():
        ours = report.results.get(label)
        if ours is None:
            continue
        if ours.status == "cached" and theirs.status == "done":
            ours.status, ours.cache_hit = "done", False
            ours.cost_usd, ours.attempts = theirs.cost_usd, theirs.attempts
        elif ours.status == "unselected" and theirs.status in ("failed", "skipped"):
            ours.status, ours.error, ours.attempts = theirs.status, theirs.error, theirs.attempts
        elif ours.status == "unselected":  # made, but into a cache this render cannot see
            ours.status = "failed"
            ours.error = (
                f"the workers {theirs.status} it, but its clip is not in this render's cache: "
                "give the render and the workers the same --cache"
            )


def _film_of(
    plan: Plan,
    build_dir: Path,
    report: RunReport,
    backend: Backend,
    events: EventSink | None,
    memo: Path,
    story: Path,
) -> StitchResult:
    """The film of a finished run: the one already cut if it is current, else cut now.

    Interrupted while it is cut, run.json says `interrupted` (never `stitching`,
    which is what a crash leaves), the clips stay as they are, no film is left half
    written (the stitch writes beside the film and renames), and the message says
    that `storyboard stitch` finishes the film from the clips, sending nothing."""
    emit = events or (lambda event: None)
    job = film_job(plan, build_dir)
    film = current_film(job, build_dir)
    if film is not None:
        emit({"event": "film_current", "film": str(film.path), "duration": round(film.duration, 3)})
        return film
    write_run_record(build_dir, plan, report, backend, None, state="stitching")
    emit({"event": "stitch_started", "clips": len(job.clips)})
    try:
        film = cut_film(job, build_dir, memo, StitchMeter(emit))
    except KeyboardInterrupt as exc:
        write_run_record(build_dir, plan, report, backend, None, state="interrupted")
        emit({"event": "run_interrupted", "stage": "stitch", "kept": len(job.clips)})
        raise Interrupted(
            f"while stitching the film: its {len(job.clips)} clip(s) are all rendered and "
            f"kept; `storyboard stitch {story}` finishes the film (it sends nothing)"
        ) from exc
    emit(
        {
            "event": "stitch_done",
            "film": str(film.path),
            "duration": round(film.duration, 3),
            "method": film.method,
            "why": film.reason,
            "seconds": round(film.seconds, 2),
        }
    )
    return film


class StitchMeter:
    """The stitch's progress as `stitch_progress` events: one each tenth of the film
    written (and at its end), so that --json and logs show it without a line for
    every report ffmpeg makes; the live view draws its bar from them."""

    STEPS = 10

    def __init__(self, emit: EventSink) -> None:
        self.emit = emit
        self.step = 0  # the last tenth reported

    def __call__(self, seconds: float, length: float) -> None:
        step = self.STEPS if length <= 0 else int(self.STEPS * seconds / length + 1e-9)
        if step > self.step:
            self.step = step
            self.emit(
                {"event": "stitch_progress", "seconds": round(seconds, 2), "of": round(length, 2)}
            )


def record_extra_takes(compiled: Compilation, report: RunReport) -> None:
    """List in the selection file the takes a run made beyond the planned ones (what
    `retake` adds), so that lint, with no cache to look in, knows they exist."""
    by_id = {t.id: t for t in compiled.tasks}
    made: dict[str, list[int]] = {}
    for result in report.results.values():
        task = by_id.get(result.task)
        kept = result.status in ("done", "cached")
        if task is not None and kept and result.take not in task.take_numbers:
            made.setdefault(task.id, []).append(result.take)
    path = selection_path(compiled.story.path)
    for task_id, takes in made.items():
        record_takes(path, task_id, by_id[task_id].cache_key, takes)


IN_FLIGHT = ("submitting", "submitted")  # sent (or being sent): the provider may be on it
NAMED = 3  # tasks named in the message, then "…"


def _interrupted(
    journal: Journal, executor: Executor, story: Path, events: EventSink | None
) -> Interrupted:
    """What an interrupted run left, read from the journal (the truth after a signal:
    every remote step was written there before and after it was taken)."""
    states: dict[str, str] = {}
    for label, unit in executor.units.by_label.items():
        record = journal.get(label)
        if record is not None and record.cache_key == executor.identity(unit.task):
            states[label] = record.state
    remote = executor.backend.spends_money
    in_flight = [label for label, state in states.items() if state in IN_FLIGHT]
    finished = [label for label, state in states.items() if state == "completed"]
    kept = sum(1 for state in states.values() if state == "done")
    if events is not None:
        events(
            {
                "event": "run_interrupted",
                "stage": "render",
                "in_flight": in_flight if remote else [],
                "finished_remote": finished if remote else [],
                "kept": kept,
            }
        )
    return Interrupted(interruption_words(in_flight, finished, kept, remote=remote, story=story))


def interruption_words(
    in_flight: list[str], finished: list[str], kept: int, *, remote: bool, story: Path
) -> str:
    """The state of the money after an interrupted render, in words: what the provider
    still works on (and may bill), what it finished and we have not fetched, what is
    kept, and that the next render resumes without paying twice. `remote`: the backend
    is a provider's (the preview draws on this machine: nothing of it runs on)."""
    again = f"the next `storyboard render {story}`"
    if not remote:
        return (
            "nothing was in flight at a provider (the preview draws its clips on this "
            f"machine, and stopped with it); {kept} clip(s) done are kept; {again} "
            "draws the rest"
        )
    parts = []
    if in_flight:
        parts.append(
            f"{len(in_flight)} task(s) in flight at the provider ({_names(in_flight)}) keep "
            "rendering there and may be billed"
        )
    if finished:
        parts.append(
            f"{len(finished)} task(s) finished at the provider ({_names(finished)}) and are "
            "billed, their clips not yet fetched"
        )
    if in_flight or finished:
        parts.append(f"{again} picks them up without paying twice")
    else:
        parts.append(f"nothing was in flight at the provider; {again} sends the rest")
    parts.append(f"{kept} clip(s) done are kept")
    return "; ".join(parts)


def _names(labels: list[str]) -> str:
    shown = ", ".join(labels[:NAMED])
    return shown + (", …" if len(labels) > NAMED else "")
