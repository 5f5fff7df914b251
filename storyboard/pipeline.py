"""`storyboard render`: lint, compile, run the graph, stitch; one command.

Also the shared pieces of `stitch` (re-cut from clips already rendered):
mapping the plan's cut onto the stitcher and writing `run.json`; and
`compile_storyboard`, lint then compile, which joins two stages that do not
know each other.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: no lock, as before
    fcntl = None  # type: ignore[assignment]

from storyboard import scratch
from storyboard.compile.compiler import Compilation, compile_specs, written_plan
from storyboard.compile.plan import Plan, PlanTask
from storyboard.errors import BudgetExceeded, EnvironmentProblem, InputProblems, StitchError
from storyboard.film.stitch import (
    Audio,
    CutClip,
    ShotMark,
    StitchOptions,
    StitchResult,
    Transition,
    stitch,
)
from storyboard.language.montage import Film
from storyboard.language.selection import record_takes, selection_path
from storyboard.lint.engine import lint_file
from storyboard.media import stop_children
from storyboard.provider.pricing import PriceTable, load_prices
from storyboard.run.backends.base import Backend
from storyboard.run.cache import ClipCache, file_sha256
from storyboard.run.executor import EventSink, Executor, RunOptions, RunReport
from storyboard.run.journal import Journal, TaskRecord, existing_journal


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


def cut_clips(plan: Plan, build_dir: Path) -> list[CutClip]:
    """The plan's cut as stitcher clips: a split scene's parts follow each other
    with hard cuts; the entry's transition leads into its first part."""
    clips = []
    for entry in plan.cut:
        for i, seg in enumerate(entry.segments):
            task = plan.task(seg.task)
            start, end = float(seg.start), float(seg.end)
            whole = start == 0 and abs(end - float(task.seconds)) < 1e-6
            marks = tuple(
                ShotMark(
                    label=f"{task.id} · shot {s.index}",
                    start=max(0.0, s.start - start),
                    duration=min(end, s.start + (s.duration or 0)) - max(start, s.start),
                )
                for s in task.shots
                if s.start < end and s.start + (s.duration or 0) > start
            )
            lead_in = entry.transition if i == 0 else None  # None: a hard cut
            clips.append(
                CutClip(
                    path=build_dir / "clips" / f"{task.chosen.label}.mp4",
                    label=task.chosen.label,
                    trim=None if whole else (start, end),
                    transition=(
                        Transition(lead_in.type, float(lead_in.duration))
                        if lead_in is not None
                        else Transition("cut", 0.0)
                    ),
                    shots=marks,
                )
            )
    return clips


@dataclass(frozen=True)
class Gathered:
    """What `storyboard stitch` found in a build: where its clips come from, the ones
    the journal knows nothing of, and the ones built from another take upstream."""

    sources: list[str]
    unknown: list[str]
    repicked: list[str]


def gather_clips(plan: Plan, build_dir: Path) -> Gathered:
    """Check that `build_dir/clips/` holds the chosen take of every task, for
    `storyboard stitch`. A clip the journal records under another cache key was rendered
    before the storyboard changed: it is refused, never stitched in silently.
    A clip whose bytes are not the ones the journal recorded when its task was
    done was damaged since: refused too (`render` fetches it again, free). A clip
    of the same request built from another take of a task upstream (a pick since)
    is used, and named: the next `render` makes it from the picked take.
    Returns the sources of the clips (`preview-r2`, `kirin-...`), the tasks whose
    clips the journal knows nothing of (placed there by hand: used as they are) and
    those built from another take upstream."""
    stale, missing, damaged, sources, unknown, repicked = [], [], [], set(), [], []
    with existing_journal(build_dir / "journal.sqlite") as journal:
        for task in plan.tasks:
            label = task.chosen.label
            clip = build_dir / "clips" / f"{label}.mp4"
            record = journal.get(label) if journal is not None else None
            if not clip.is_file():
                missing.append(label)
            elif record is None:
                unknown.append(label)
            elif record.payload_key != task.cache_key and not _repicked(record, task):
                stale.append(label)
            elif record.clip_sha256 and file_sha256(clip) != record.clip_sha256:
                damaged.append(label)
            else:
                sources.add(record.source)
                if record.payload_key != task.cache_key:
                    repicked.append(label)
    reasons = []
    if stale:
        reasons.append(f"changed since their clips were rendered: {', '.join(stale)}")
    if missing:
        reasons.append(f"not rendered in {build_dir}: {', '.join(missing)}")
    if damaged:
        reasons.append(
            f"whose clips changed on disk since they were rendered: {', '.join(damaged)}"
        )
    if reasons:
        raise StitchError(
            f"cannot re-cut without rendering; tasks {'; '.join(reasons)}. "
            "Run `storyboard render` (it renders only what is needed)."
        )
    return Gathered(sorted(sources), unknown, repicked)


def _repicked(record: TaskRecord, task: PlanTask) -> bool:
    """The record is of the same request as `task`, built from another take upstream."""
    return bool(task.request_key) and record.request_key == task.request_key


def film_path(plan: Plan, build_dir: Path) -> Path:
    return (build_dir / plan.output).resolve()


def stitch_plan(plan: Plan, build_dir: Path) -> StitchResult:
    clips = cut_clips(plan, build_dir)
    missing = [c.label for c in clips if not c.path.is_file()]
    if missing:
        raise StitchError(f"no clip rendered yet for: {', '.join(missing)} (run render first)")
    music = None
    if plan.audio is not None:
        a = plan.audio
        music = Audio(
            music=str((build_dir / a.music).resolve()),
            volume=a.volume,
            fade_in=a.fade_in,
            fade_out=a.fade_out,
            loop=a.loop,
            duck=a.duck,
        )
    out = film_path(plan, build_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    return stitch(clips, out, music=music, options=film_options(plan.film))


def film_options(film: Film) -> StitchOptions:
    """The storyboard's `film:` settings over the stitcher's defaults (only what the
    author set counts, as plan.json shows)."""
    chosen = film.to_json()
    if film.size is not None:
        chosen["size"] = film.size
    return StitchOptions(**chosen)


def film_record(film: StitchResult) -> dict[str, Any]:
    """What run.json says about the film."""
    return {
        "path": str(film.path),
        "duration": film.duration,
        "expected": film.expected,
        "frames": film.frames,
        "size": list(film.size),
        "method": film.method,
        "why": film.reason,
        "av_gap": film.av_gap,
        "loudness_lufs": film.loudness,
        "gain_db": film.gain_db,
        "poster": str(film.poster),
        "contact_sheet": str(film.contact_sheet),
        "stitch_seconds": round(film.seconds, 3),
    }


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
) -> RenderOutcome:
    """Write the plan, run it, and stitch the film when every clip it uses is there
    (unless `stitch_film` is False: `retake` adds takes and leaves the film as it is)."""
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
        except BaseException:  # Ctrl-C, SIGTERM, an error no task could settle
            so_far = executor.report_so_far()
            write_run_record(build_dir, plan, so_far, backend, None, state="interrupted")
            raise
    finally:
        journal.close()
    film = None
    if report.complete and stitch_film:
        write_run_record(build_dir, plan, report, backend, None, state="stitching")
        emit = events or (lambda event: None)
        emit({"event": "stitch_started", "clips": sum(len(e.segments) for e in plan.cut)})
        film = stitch_plan(plan, build_dir)
        emit(
            {
                "event": "stitch_done",
                "film": str(film.path),
                "duration": round(film.duration, 3),
                "method": film.method,
                "seconds": round(film.seconds, 2),
            }
        )
    write_run_record(build_dir, plan, report, backend, film)
    record_extra_takes(compiled, report)
    return RenderOutcome(report, film)


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
