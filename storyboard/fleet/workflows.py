"""The workflows a worker runs: one take each, with the executor's own steps.

The *take* workflow runs the run stage's `Executor` on a one-take plan in a
scratch folder of the worker's, with the shared cache: the clips it is built
from are cache hits, and its own take is looked up, found again by its
external id (T3) or sent, waited for, downloaded, verified and stored in the
shared cache, as on one machine. The executor talks to the provider through a
`DurableBackend`, whose `find`, `submit` and `wait` are DBOS steps: the
engine records each one's result, so a workflow resumed on another worker
after its own died skips what was done, and the submit step looks the
external id up before it creates, so the step itself, run again after a crash
in its middle, never creates a second task. The download is no step: it is
this machine's file, fetched again (for free) wherever the workflow resumes.

The *settle* workflow waits for the takes a take is built from, then starts
its take workflow on the provider queue and returns its result.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbos import DBOS, SetWorkflowID, WorkflowHandleAsync

from storyboard.compile.plan import Plan
from storyboard.fleet.budget import SharedBudget
from storyboard.fleet.jobs import PROVIDER_QUEUE, SETTLE_WORKFLOW, TAKE_WORKFLOW, TakeJob
from storyboard.run.backends.base import Backend, Outcome, RemoteTask, StatusCallback
from storyboard.run.cache import ClipCache
from storyboard.run.executor import EventSink, Executor
from storyboard.run.journal import Journal
from storyboard.run.record import RunOptions

if TYPE_CHECKING:
    from storyboard.media import MediaInfo

SETTLED = ("done", "cached")


@dataclass
class WorkerContext:
    """What a worker's workflows use: set once by `storyboard worker` at start."""

    cache: ClipCache
    backend: Callable[[], Backend]  # a fresh backend from this worker's own environment
    work_dir: Path
    events: Callable[[str], EventSink]  # the event sink for one take's label
    executor_id: str
    database: str  # the engine's: where the renders' budgets are kept


_context: WorkerContext | None = None


def configure(context: WorkerContext) -> None:
    global _context
    _context = context


def _worker() -> WorkerContext:
    if _context is None:
        raise RuntimeError("a storyboard workflow ran outside `storyboard worker`")
    return _context


class DurableBackend(Backend):
    """A backend whose provider calls are steps of the running workflow."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name
        self.spends_money = inner.spends_money
        self.source = inner.source
        self.variants = inner.variants
        self.reads_local_files = inner.reads_local_files

    async def find(self, external_task_id: str) -> RemoteTask | None:
        return await DBOS.run_step_async({"name": "find"}, self.inner.find, external_task_id)

    async def submit(
        self, payload: Mapping[str, Any], external_task_id: str, *, label: str = ""
    ) -> RemoteTask:
        async def find_or_create() -> RemoteTask:
            # Run again after a crash in its middle, the step finds what it sent.
            found = await self.inner.find(external_task_id)
            return found or await self.inner.submit(payload, external_task_id, label=label)

        return await DBOS.run_step_async({"name": "submit"}, find_or_create)

    async def wait(self, remote: RemoteTask, *, on_status: StatusCallback | None = None) -> Outcome:
        async def wait() -> Outcome:
            return await self.inner.wait(remote, on_status=on_status)

        return await DBOS.run_step_async({"name": "wait"}, wait)

    async def download(self, outcome: Outcome, dest: Path) -> MediaInfo:
        return await self.inner.download(outcome, dest)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _result(status: str, **fields: Any) -> dict[str, Any]:
    return {"status": status, **fields}


@DBOS.workflow(name=TAKE_WORKFLOW)
async def take_workflow(data: Mapping[str, Any]) -> dict[str, Any]:
    """Settle one take on this worker: from the shared cache, or made once."""
    job = TakeJob.from_json(data)
    worker = _worker()
    plan = Plan.from_json(dict(job.plan))
    backend = DurableBackend(worker.backend())
    if backend.source != job.name.split(":", 1)[0]:
        await backend.aclose()
        return _result(
            "failed",
            error=f"this worker renders for {backend.source}, the take is for another provider",
        )
    build = worker.work_dir / job.take_id.replace(":", "_").replace("/", "_")
    build.mkdir(parents=True, exist_ok=True)
    journal = Journal(build / "journal.sqlite")
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
            budget=None
            if job.max_cost is None or job.budget is None
            else SharedBudget(worker.database, job.budget, job.max_cost),
        )
        async with backend:
            report = await executor.run()
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
    )


@DBOS.workflow(name=SETTLE_WORKFLOW)
async def settle_workflow(data: Mapping[str, Any]) -> dict[str, Any]:
    """Wait for the takes this one is built from, then make it on the provider queue."""
    job = TakeJob.from_json(data)
    for name in job.after:
        upstream: WorkflowHandleAsync[dict[str, Any]]
        upstream = await DBOS.retrieve_workflow_async(f"settle:{name}")
        done = await upstream.get_result()
        if done.get("status") not in SETTLED:
            return _result("skipped", error=f"upstream {name} {done.get('status')}")
    queue = await DBOS.retrieve_queue_async(PROVIDER_QUEUE)
    if queue is None:
        return _result("failed", error=f"no queue {PROVIDER_QUEUE}: start a storyboard worker")
    with SetWorkflowID(job.take_id):
        handle = await queue.enqueue_async(take_workflow, dict(data))
    return await handle.get_result()
