"""The run stage: execute a plan's task graph on a backend.

A task starts as soon as its dependencies are done. Concurrency is bounded
and adaptive (halved on E1/429, regained slowly). Transient failures are
retried with jittered exponential backoff; a permanent one fails its task,
whose descendants are skipped while independent branches finish. Every
remote step is journaled before and after, and `find` (T3) runs before any
`submit`, so a killed run resumes without creating a task twice. Clips are
verified (probed, decoded in full, the length of their plan) before they are
stored in the content-addressed cache; a damaged cache entry is fetched again
from the provider, never stitched in.

Two kinds of failure, two budgets: the transport's (5xx, 429, timeouts,
dropped connections, broken downloads) cost nothing and are retried until
the task's time budget (`retry_seconds`) is spent; a provider task that
failed (E1/E2), was lost or answered for another task means a new task, and
at most `max_attempts` are made: an *attempt* is one provider task, a request
refused on the way a *retry* of it (the one definition: `storyboard.run.record`).
Bills are the provider's `usage.cost`, recorded once per provider task against
the run that saw it.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.compile.plan import Plan, PlanTask
from storyboard.digest import file_sha256
from storyboard.errors import (
    BudgetExceeded,
    CacheError,
    MediaError,
    ProviderError,
    RateLimited,
    ResourceInsufficient,
    TaskMismatch,
    TaskNotFound,
    TaskResponseError,
    TransientProviderError,
)
from storyboard.run.backends.base import Backend, Outcome, RemoteTask, attempt_external_id
from storyboard.run.budget import Budget, BudgetRefused, LocalBudget
from storyboard.run.cache import CacheEntry, ClipCache, DamagedEntry, copy_clip
from storyboard.run.fetch import damaged_source, fetch_clip
from storyboard.run.journal import Journal, record_key
from storyboard.run.record import RunOptions, RunReport, TaskResult, pending_cost
from storyboard.run.resolve import RunTimeValues
from storyboard.run.slots import AdaptiveLimit, critical_paths, retry_delay
from storyboard.run.units import Unit, Units, chosen_labels, plan_units

__all__ = ["EventSink", "Executor", "RunOptions", "RunReport", "TaskResult"]

EventSink = Callable[[dict[str, Any]], None]  # the events are JSON lines, free-form


@dataclass
class _Remote:
    """The provider-side task of a task's current attempt, once it exists."""

    task: RemoteTask | None = None
    from_journal: bool = False  # made by an earlier run: the backend may have lost it since


class _Skip(Exception):
    """The task is not run; the message says why."""


class Executor:
    def __init__(
        self,
        plan: Plan,
        build_dir: Path,
        backend: Backend,
        *,
        cache: ClipCache,
        journal: Journal,
        story_dir: Path,
        assets_base_url: str | None = None,
        events: EventSink | None = None,
        options: RunOptions | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.plan = plan
        self.build_dir = build_dir
        self.clips_dir = build_dir / "clips"
        self.backend = backend
        self.cache = cache.for_source(backend.source, backend.variants)
        self.journal = journal
        self.emit = events or (lambda event: None)
        self.options = options or RunOptions()
        self.limit = AdaptiveLimit(self.options.jobs)
        self.priority = critical_paths(plan)
        self.random = random.Random(self.options.seed)
        self.run_id = uuid.uuid4().hex
        self.results: dict[str, TaskResult] = {}  # by take label
        self.remotes: dict[str, RemoteTask] = {}  # by take label
        self.values = RunTimeValues(
            backend,
            build_dir=build_dir,
            story_dir=story_dir,
            assets_base_url=assets_base_url,
            remotes=self.remotes,
            chosen=chosen_labels(plan),
        )
        self.units: Units = plan_units(plan, self.cache, journal, self.options.retakes)
        self.budget: Budget = budget if budget is not None else LocalBudget(self.options.max_cost)
        self.billed = 0.0  # this run's bills
        self.billed_by_task: dict[str, float] = {}
        self._done: dict[str, asyncio.Event] = {}

    def identity(self, task: PlanTask) -> str:
        """What the journal keys `task` on with this backend and shelf."""
        return record_key(self.backend.source, self.cache.entry_name(task.cache_key))

    # --- budget -------------------------------------------------------------------
    def pending_cost(self) -> float:
        """Estimated cost of every take the cache cannot serve (what a run would spend)."""
        return pending_cost(self.plan.tasks, self.cache, self.options)

    def _check_budget(self, task: PlanTask, label: str) -> None:
        try:
            self.budget.reserve(label, task.estimated_cost_usd)
        except BudgetRefused as why:
            raise _Skip(str(why)) from None

    # --- the graph ------------------------------------------------------------------
    def _wanted(self, unit: Unit) -> bool:
        """Selected (`--select`), or a take this run must settle whatever was selected:
        one `retake` adds, one an earlier run sent and did not finish."""
        only, takes = self.options.only, self.options.takes
        if takes is not None and unit.label not in takes:
            return False
        return unit.new or unit.resumed or only is None or unit.task.id in only

    async def run(self) -> RunReport:
        cap = self.options.max_cost
        if cap is not None and (cost := self.pending_cost()) > cap + 1e-9:
            raise BudgetExceeded(
                f"the plan would cost ${cost:.2f}, over --max-cost ${cap:.2f}; nothing was sent"
            )
        start = time.monotonic()
        self._done = {label: asyncio.Event() for label in self.units.by_label}
        for take in self.units.new_takes():
            self.emit({"event": "take_added", "task": take.label, "take": take.number})
        self.emit({"event": "run_started", "tasks": len(self.units), "backend": self.backend.name})
        try:
            async with asyncio.TaskGroup() as group:
                for label in self.units.by_label:
                    group.create_task(self._guarded(self.units[label]))
        except ExceptionGroup as group:  # what no task could settle: the first one, unwrapped
            raise _first_leaf(group) from None
        report = RunReport(self.results, time.monotonic() - start)
        self.emit(
            {
                "event": "run_finished",
                "ok": report.ok,
                "billed_usd": round(report.billed, 4),
                "seconds": round(report.wall_seconds, 3),
            }
        )
        return report

    def report_so_far(self) -> RunReport:
        """The run as it stands (after an interrupt or an error): finished tasks as they
        ended, the others `interrupted`, with what they were billed."""
        results = dict(self.results)
        for label, unit in self.units.by_label.items():
            if label not in results:
                billed = self.billed_by_task.get(label, 0.0)
                results[label] = self._result(unit, "interrupted", cost_usd=billed)
        return RunReport(results)

    def _result(self, unit: Unit, status: str, **fields: Any) -> TaskResult:
        return TaskResult(
            unit.label, status, task=unit.task.id, take=unit.number, chosen=unit.chosen, **fields
        )

    async def _guarded(self, unit: Unit) -> None:
        label = unit.label
        started = time.monotonic()
        try:
            result = await self._settle(unit)
        except _Skip as why:
            result = self._result(unit, "skipped", error=str(why))
            self.journal.begin(label, self.identity(unit.task))
            self.journal.update(label, state="skipped", error=str(why))
            self.emit({"event": "task_skipped", "task": label, "reason": str(why)})
        except (ProviderError, MediaError, CacheError, OSError) as exc:
            # OSError: this machine's files (a clips folder that cannot be written);
            # the take fails with the reason, and the run still ends with its record.
            error = f"{type(exc).__name__}: {exc}"
            result = self._result(unit, "failed", error=error)
            record = self.journal.get(label)  # its attempt, not every refused request
            result.attempts = max(1, record.attempt) if record else 1
            result.cost_usd = self.billed_by_task.get(label, 0.0)
            self.journal.update(label, state="failed", error=error)
            self.emit({"event": "task_failed", "task": label, "error": error})
        result.seconds = time.monotonic() - started
        self.results[label] = result
        self._done[label].set()
        await self.limit.forget(label)

    def _unblocked(self, label: str) -> str | None:
        """The most urgent take that `label` finishing will make ready, if any."""
        ready = [
            self.units[child]
            for child in self.units.children[label]
            if self._wanted(self.units[child])
            and not self._done[child].is_set()  # served from the cache already
            and all(d == label or self._done[d].is_set() for d in self.units[child].deps)
        ]
        best = max(ready, key=lambda u: self.priority[u.task.id], default=None)
        return best.label if best is not None else None

    # --- one take ---------------------------------------------------------------------
    async def _settle(self, unit: Unit) -> TaskResult:
        """From the cache at once (its key covers everything upstream), else rendered
        once the takes it is built from are done; left out if it was not selected."""
        task, label = unit.task, unit.label
        clip = self.clips_dir / f"{label}.mp4"
        # Off the event loop: a shared cache's lookup downloads the clip.
        entry = await asyncio.to_thread(self.cache.lookup, task.cache_key, unit.number)
        if isinstance(entry, CacheEntry):
            return self._from_cache(unit, entry, clip)
        if isinstance(entry, DamagedEntry):
            self.emit(
                {
                    "event": "cache_damaged",
                    "task": label,
                    "reason": entry.reason,
                    "next": "fetched again from the provider if it still has the clip",
                }
            )
        if not self._wanted(unit):
            self.emit({"event": "task_unselected", "task": label})
            return self._result(unit, "unselected", error="not selected and not in the cache")
        for dep in unit.deps:
            await self._done[dep].wait()
            if self.results[dep].status not in ("done", "cached"):
                raise _Skip(f"upstream {dep} {self.results[dep].status}")
        return await self._run_task(unit, clip, entry)

    async def _run_task(self, unit: Unit, clip: Path, damaged: DamagedEntry | None) -> TaskResult:
        task, task_id = unit.task, unit.label
        record = self.journal.begin(task_id, self.identity(task))
        attempt = max(1, record.attempt)
        remote = RemoteTask.from_json(record.remote) if record.remote else None
        if remote is None and damaged is not None:
            remote = damaged_source(damaged, self.backend.name)
        current = _Remote(remote, from_journal=remote is not None)
        if current.task is not None and record.state in ("submitted", "completed", "done"):
            self.emit({"event": "task_reattached", "task": task_id, "remote": current.task.task_id})
        base_id = unit.external_task_id
        made, retries, retried = 1, 0, 0  # attempts, all retries, retries of this attempt
        give_up_at = time.monotonic() + self.options.retry_seconds
        while True:
            try:
                outcome = await self._attempt(unit, attempt, base_id, current)
                assert current.task is not None
                info = await fetch_clip(self.backend, task, current.task, outcome, clip)
                break
            except TaskNotFound as exc:
                if not (current.from_journal or isinstance(exc, TaskMismatch)):
                    raise
                # The journal's task is gone from the backend (purged by the provider,
                # or a preview folder removed), or the provider now answers for that id
                # with another task (TaskMismatch: a restarted gateway reusing ids); no
                # cache holds the clip: the only way to it is a new task, under a new id.
                made += 1
                if made > self.options.max_attempts:
                    raise
                attempt = self._new_attempt(task_id, attempt, current, error=str(exc))
                retried = 0
                self.emit(
                    {"event": "task_lost", "task": task_id, "attempt": attempt, "error": str(exc)}
                )
            except TransientProviderError as exc:
                if isinstance(exc, ResourceInsufficient | RateLimited):
                    self.limit.back_off()
                if isinstance(exc, ResourceInsufficient | TaskResponseError) and current.task:
                    # The provider finished that task as failed (E1/E2 from `wait`); it
                    # keeps its external id (R23), so the retry is a new task with a new id.
                    made += 1
                    if made > self.options.max_attempts:
                        raise
                    attempt = self._new_attempt(task_id, attempt, current, error=str(exc))
                    why = {"retry": 0, "failed_attempt": attempt - 1}
                    retried = 0
                else:
                    retried += 1
                    why = {"retry": retried}
                retries += 1
                delay = retry_delay(retries, exc, self.options, self.random)
                if time.monotonic() + delay > give_up_at:
                    raise type(exc)(
                        f"{exc} (still failing after {retries} retries in "
                        f"{self.options.retry_seconds:g} s; giving up on this task)"
                    ) from exc
                error = f"{type(exc).__name__}: {exc}"
                retry = {"attempt": attempt, **why, "error": error, "delay": round(delay, 2)}
                self.emit({"event": "task_retry", "task": task_id, **retry})
                await asyncio.sleep(delay)
        remote = current.task
        billed = self.billed_by_task.get(task_id, 0.0)
        clip_cost = outcome.cost_usd
        meta = {
            "task": task.id,
            "duration": info.duration,
            "cost_usd": clip_cost,
            "remote": remote.to_json(),
            "video_url": outcome.video_url,
            "backend": self.backend.name,
        }
        try:
            stored = await asyncio.to_thread(
                self.cache.put, task.cache_key, clip, meta, unit.number
            )
            digest = stored.sha256
        except CacheError as exc:  # the clip is in the build; a later run fetches it again
            self.emit({"event": "cache_unwritable", "task": task_id, "error": str(exc)})
            digest = file_sha256(clip)
        self.remotes[task_id] = remote
        self.journal.update(
            task_id,
            state="done",
            seconds=info.duration,
            cache_hit=0,
            clip_sha256=digest,
            request_key=task.request_key,
        )
        done = {"task": task_id, "attempts": attempt, "cost_usd": billed, "duration": info.duration}
        self.emit({"event": "task_done", **done})
        return self._result(
            unit,
            "done",
            attempts=attempt,
            cost_usd=billed,
            clip_cost_usd=clip_cost,
            clip=clip,
            duration=info.duration,
        )

    def _bill(self, task_id: str, remote: RemoteTask, outcome: Outcome) -> None:
        """Count what the provider billed for the task in this run: its cost, recorded
        once per provider task, and only for a task this build sent (one found by its
        external id that another build or machine sent was paid for there)."""
        cost = outcome.cost_usd or 0.0
        if not self.journal.sent_here(task_id, remote.external_task_id):
            return
        source = self.backend.source
        if self.journal.record_bill(task_id, source, remote.task_id, cost, self.run_id):
            self.billed += cost
            self.budget.bill(task_id, cost)
            self.billed_by_task[task_id] = self.billed_by_task.get(task_id, 0.0) + cost

    def _new_attempt(self, task_id: str, attempt: int, current: _Remote, **why: Any) -> int:
        """The attempt after `attempt`: a new external id, so the provider's old task
        (done, failed or lost) is never reused."""
        current.task, current.from_journal = None, False
        self.journal.update(task_id, state="pending", attempt=attempt + 1, remote=None, **why)
        return attempt + 1

    async def _attempt(self, unit: Unit, attempt: int, base_id: str, current: _Remote) -> Outcome:
        """Submit (or re-attach) and wait, holding one concurrency slot.

        `current.task` is set as soon as the provider-side task exists, so that a
        failure while waiting tells the caller there is a task (failed or not)."""
        task, task_id = unit.task, unit.label
        await self.limit.acquire(self.priority[task.id], task_id)
        ok = False
        self.budget.hold(task_id, task.estimated_cost_usd)
        try:
            remote = current.task
            if remote is None:
                ext = attempt_external_id(base_id, attempt)
                remote = await self.backend.find(ext)
                if remote is None:
                    self._check_budget(task, task_id)
                    payload = await self.values.payload(task)
                    self.journal.update(
                        task_id, state="submitting", attempt=attempt, external_task_id=ext
                    )
                    try:
                        remote = await self.backend.submit(payload, ext, label=task_id)
                    except BudgetRefused as why:  # a ledger the backend keeps (many workers)
                        raise _Skip(str(why)) from None
                    accepted = {"attempt": attempt, "remote": remote.task_id}
                    self.emit({"event": "task_submitted", "task": task_id, **accepted})
                else:
                    found = {"attempt": attempt, "remote": remote.task_id}
                    self.emit({"event": "task_found", "task": task_id, **found})
                current.task = remote
                self.journal.update(
                    task_id,
                    state="submitted",
                    attempt=attempt,
                    external_task_id=remote.external_task_id,
                    remote=remote.to_json(),
                )

            def status(name: str) -> None:
                self.emit({"event": "task_status", "task": task_id, "status": name})

            outcome = await self.backend.wait(remote, on_status=status)
            self.journal.update(
                task_id, state="completed", outcome=outcome.to_json(), cost_usd=outcome.cost_usd
            )
            self._bill(task_id, remote, outcome)
            ok = True
            return outcome
        finally:
            self.budget.release(task_id)
            await self.limit.release(
                ok=ok, key=task_id, handoff=self._unblocked(task_id) if ok else None
            )

    def _from_cache(self, unit: Unit, entry: CacheEntry, clip: Path) -> TaskResult:
        """The cached clip, copied into the build (never a second name for the cache's
        bytes); the journal keeps what the clip cost when it was made."""
        task, task_id = unit.task, unit.label
        meta = entry.meta
        if not (clip.is_file() and file_sha256(clip) == entry.sha256):
            copy_clip(entry.clip, clip)
        if meta.get("remote"):
            self.remotes[task_id] = RemoteTask.from_json(meta["remote"])
        record = self.journal.begin(task_id, self.identity(task))
        cost = record.cost_usd if record.cost_usd is not None else meta.get("cost_usd")
        self.journal.update(
            task_id,
            state="done",
            cache_hit=1,
            cost_usd=cost,
            seconds=meta.get("duration"),
            clip_sha256=entry.sha256,
            request_key=task.request_key,
        )
        # What the clip cost when it was made: not billed again (the live view sums
        # `cost_usd` as this run's bill, so this is another key).
        self.emit({"event": "task_cached", "task": task_id, "clip_cost_usd": cost})
        kept = {"clip_cost_usd": cost, "clip": clip, "duration": meta.get("duration")}
        return self._result(unit, "cached", cache_hit=True, **kept)


def _first_leaf(group: BaseExceptionGroup[Exception]) -> Exception:
    """The first exception in a (nested) exception group."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
