"""The workflows a worker runs: one take each, with the executor's own steps.

The *take* workflow (on the graph queue, which has no limit) waits for the
takes it is built from, then runs the run stage's `Executor` on a one-take
plan in a scratch folder of the worker's, with the shared cache: the clips it
is built from are cache hits, and its own take is looked up, found again by
its external id (T3) or sent, waited for, downloaded, verified and stored in
the shared cache, as on one machine. The executor talks to the provider
through a `DurableBackend`: `find` is a DBOS step, and a create with the wait
for its task is a *provider* workflow on the provider queue, whose limit is
the provider account's, so that an account slot is held from just before the
create until the provider says the task is finished, and not while the clip
is downloaded and checked. Its create step looks the external id up first,
so the step, run again after a crash in its middle, never creates a second
task; the engine records each step's result, so a workflow resumed on
another worker after its own died skips what was done. The download is no
step: it is this machine's file, fetched again (for free) wherever the
workflow resumes.

Workflows tell each other they are done with DBOS events (PostgreSQL's
LISTEN/NOTIFY where it is there), not by polling each other.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from dbos import DBOS, SetEnqueueOptions

from storyboard.compile.plan import Plan
from storyboard.errors import EnvironmentProblem, ProviderError
from storyboard.fleet.budget import SharedBudget
from storyboard.fleet.callbacks import wait_for_notices
from storyboard.fleet.jobs import (
    PROVIDER_QUEUE,
    PROVIDER_WORKFLOW,
    TAKE_WORKFLOW,
    TakeJob,
    queue_priority,
)
from storyboard.provider.profile import ProviderProfile
from storyboard.run.backends.base import Backend, Outcome, RemoteTask, StatusCallback
from storyboard.run.backends.kirin import KirinBackend
from storyboard.run.budget import BudgetRefused
from storyboard.run.cache import ClipCache
from storyboard.run.callbacks import CallbackKey
from storyboard.run.executor import EventSink, Executor
from storyboard.run.journal import Journal
from storyboard.run.record import RunOptions

if TYPE_CHECKING:
    from storyboard.media import MediaInfo

SETTLED = ("done", "cached")
ENDED = "ended"  # a provider workflow's event: its task's end
SETTLED_EVENT = "settled"  # a take workflow's event: how it settled


@dataclass
class WorkerContext:
    """What a worker's workflows use: set once by `storyboard worker` at start."""

    cache: ClipCache
    backend: Callable[[], Backend]  # the worker's backend, from its own environment
    work_dir: Path
    events: Callable[[str], EventSink]  # the event sink for one take's label
    executor_id: str
    database: str  # the engine's: where the renders' budgets are kept
    profile: ProviderProfile | None = None  # the worker's provider profile
    callbacks: tuple[CallbackKey, str] | None = None  # the key and the receiver's address


_context: WorkerContext | None = None


def configure(context: WorkerContext) -> None:
    global _context
    _context = context


def _worker() -> WorkerContext:
    if _context is None:
        raise RuntimeError("a storyboard workflow ran outside `storyboard worker`")
    return _context


class DurableBackend(Backend):
    """A backend whose provider calls are steps and workflows of the running one."""

    def __init__(
        self, inner: Backend, budget: Mapping[str, Any] | None = None, *, priority: int = 0
    ) -> None:
        self.inner = inner
        self.budget = budget  # the render's ledger, its cap and this take's list price
        self.priority = priority  # on the account's queue (`jobs.queue_priority`)
        self.name = inner.name
        self.spends_money = inner.spends_money
        self.source = inner.source
        self.variants = inner.variants
        self.reads_local_files = inner.reads_local_files
        self._ended: dict[str, dict[str, Any]] = {}  # external id -> the provider's answer

    async def find(self, external_task_id: str) -> RemoteTask | None:
        return await DBOS.run_step_async({"name": "find"}, self.inner.find, external_task_id)

    async def submit(
        self, payload: Mapping[str, Any], external_task_id: str, *, label: str = ""
    ) -> RemoteTask:
        """Create and wait, in a provider workflow holding one of the account's slots;
        the task it made (its end is kept for `wait`), or why none was made."""
        queue = await DBOS.retrieve_queue_async(PROVIDER_QUEUE)
        if queue is None:
            raise EnvironmentProblem(f"no queue {PROVIDER_QUEUE} in the engine")
        with SetEnqueueOptions(priority=self.priority):  # read before enqueue_async awaits
            handle = await queue.enqueue_async(
                provider_workflow, dict(payload), external_task_id, label, self.budget
            )
        ended = None
        while ended is None:
            ended = await DBOS.get_event_async(handle.workflow_id, ENDED, timeout_seconds=600)
        if "refused" in ended:
            raise BudgetRefused(ended["refused"])
        if "remote" not in ended:
            raise ended["error"]
        self._ended[external_task_id] = ended
        return cast(RemoteTask, ended["remote"])

    async def wait(self, remote: RemoteTask, *, on_status: StatusCallback | None = None) -> Outcome:
        ended = self._ended.pop(remote.external_task_id, None)
        if ended is not None:
            if "outcome" in ended:
                return cast(Outcome, ended["outcome"])
            raise ended["error"]

        async def wait() -> Outcome:  # a task found finished, or a fresh URL for a clip
            return await self.inner.wait(remote, on_status=on_status)

        return await DBOS.run_step_async({"name": "wait"}, wait)

    async def download(self, outcome: Outcome, dest: Path) -> MediaInfo:
        return await self.inner.download(outcome, dest)


@DBOS.workflow(name=PROVIDER_WORKFLOW)
async def provider_workflow(
    payload: dict[str, Any],
    external_task_id: str,
    label: str,
    budget: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One provider task, from its create to its end: what the account's limit counts.

    With a budget (`--max-cost`), the render's ledger is checked just before the
    create, while this workflow holds its account slot: what is billed plus what is
    in flight, across every worker of the render."""
    worker = _worker()
    backend = worker.backend()
    ledger = None
    if budget is not None:
        ledger = await asyncio.to_thread(
            SharedBudget, worker.database, str(budget["id"]), float(budget["cap"])
        )

    notices = worker.callbacks
    if notices is not None and worker.profile is not None:  # R22: the receiver's URL
        key, base = notices
        own = DBOS.workflow_id
        assert own is not None
        payload = {**payload, worker.profile.callback_field: key.url(base, own)}

    # The take looked the external id up just before it enqueued this workflow; only a
    # run of the create that may have sent before (this workflow resumed after a crash
    # in its middle) looks again. A step that returns this run's own token was recorded
    # now, not by an earlier run.
    this_run = uuid.uuid4().hex
    sending = await DBOS.run_step_async({"name": "sending"}, lambda: this_run)

    async def create() -> RemoteTask:
        if ledger is not None and budget is not None:
            await asyncio.to_thread(ledger.reserve, label, float(budget["estimate"]))
        found = await backend.find(external_task_id) if sending != this_run else None
        return found or await backend.submit(payload, external_task_id, label=label)

    async def wait(remote: RemoteTask) -> Outcome:
        return await backend.wait(remote)

    async def waited(remote: RemoteTask) -> Outcome:
        if notices is not None and worker.profile is not None and isinstance(backend, KirinBackend):
            return await wait_for_notices(backend, remote, worker.profile)
        return await DBOS.run_step_async({"name": "wait"}, wait, remote)

    async def settle_ledger(ledger: SharedBudget, cost: float | None) -> None:
        if cost is not None:
            await asyncio.to_thread(ledger.bill, label, cost)
        else:
            await asyncio.to_thread(ledger.release, label)

    ended: dict[str, Any]
    try:
        remote = await DBOS.run_step_async({"name": "create"}, create)
    except BudgetRefused as why:
        ended = {"refused": str(why)}
    except ProviderError as exc:
        ended = {"error": exc}
    else:
        try:
            outcome = await waited(remote)
            ended = {"remote": remote, "outcome": outcome}
        except ProviderError as exc:
            ended = {"remote": remote, "error": exc}
    made: Outcome | None = ended.get("outcome")
    cost = (made.cost_usd or 0.0) if made is not None else None
    if ledger is not None:  # the same on every run of this workflow: its input says
        await DBOS.run_step_async({"name": "ledger"}, settle_ledger, ledger, cost)
    await DBOS.set_event_async(ENDED, ended)
    return {k: (str(v) if k == "error" else v) for k, v in ended.items()}


def _result(status: str, **fields: Any) -> dict[str, Any]:
    return {"status": status, **fields}


@DBOS.workflow(name=TAKE_WORKFLOW)
async def take_workflow(data: Mapping[str, Any]) -> dict[str, Any]:
    """Settle one take on this worker: from the shared cache, or made once, once the
    takes it is built from are settled."""
    job = TakeJob.from_json(data)
    worker = _worker()
    for name in job.after:
        upstream = None
        while upstream is None:
            upstream = await DBOS.get_event_async(
                f"take:{name}", SETTLED_EVENT, timeout_seconds=600
            )
        if upstream.get("status") not in SETTLED:
            return await _settled(
                _result("skipped", error=f"upstream {name} {upstream.get('status')}")
            )
    try:
        result = await _make(job, worker)
    except Exception as exc:  # a bug or this machine's trouble: still tell the takes after
        result = _result("failed", error=f"{type(exc).__name__}: {exc}")
    return await _settled(result)


async def _make(job: TakeJob, worker: WorkerContext) -> dict[str, Any]:
    plan = Plan.from_json(dict(job.plan))
    ledger = None
    if job.max_cost is not None and job.budget is not None:
        task = plan.task(job.task)
        ledger = {"id": job.budget, "cap": job.max_cost, "estimate": task.estimated_cost_usd}
    backend = DurableBackend(worker.backend(), ledger, priority=queue_priority(job.urgency))
    if backend.source != job.source:
        why = f"this worker renders for {backend.source}, the take is for another provider"
        return _result("failed", error=why)
    build = worker.work_dir / job.take_id.replace(":", "_").replace("/", "_")
    build.mkdir(parents=True, exist_ok=True)
    journal = Journal(None)  # what must survive a crash is in the engine
    try:
        executor = Executor(
            plan,
            build,
            backend,
            cache=worker.cache,
            journal=journal,
            story_dir=Path(job.story_dir),
            assets_base_url=job.assets_base_url,
            events=worker.events(job.label),
            options=RunOptions(jobs=1, only=frozenset({job.task}), takes=frozenset({job.label})),
        )
        report = await executor.run()  # the backend is the worker's, shared: not closed here
    finally:
        journal.close()
    result = report.results[job.label]
    if result.status in SETTLED:
        shutil.rmtree(build, ignore_errors=True)  # the clip is in the shared cache
    return _result(
        result.status,
        error=result.error,
        attempts=result.attempts,
        cost_usd=result.cost_usd,
        clip_cost_usd=result.clip_cost_usd,
        duration=result.duration,
        worker=worker.executor_id,
        render=job.budget,  # the render the take was made for (the first to ask)
    )


async def _settled(result: dict[str, Any]) -> dict[str, Any]:
    """Tell the takes built from this one that it is settled, and how."""
    await DBOS.set_event_async(SETTLED_EVENT, result)
    return result
