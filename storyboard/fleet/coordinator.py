"""The render's side of the engine: enqueue a plan's takes, follow them, say how
they stand.

A render hands every take the shared cache cannot serve to the engine as a
take workflow, upstream first (`storyboard.fleet.jobs`), and follows the
workflows until every one has settled, turning what the engine records into
the live view's events. The clips are then in the shared cache, and the render
collects and stitches them with the one-machine pipeline, through a backend
that only reads the cache (`CacheShelf`). Killed, the render leaves the
workflows running on the workers; run again, it enqueues the same ids, which
DBOS answers with the workflows already there, and follows them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storyboard.errors import EnvironmentProblem
from storyboard.fleet.jobs import (
    GRAPH_QUEUE,
    TAKE_WORKFLOW,
    WORKFLOW_VERSION,
    TakeJob,
)
from storyboard.run.backends.base import Backend, Outcome, RemoteTask, StatusCallback
from storyboard.run.executor import EventSink
from storyboard.run.record import TaskResult

if TYPE_CHECKING:
    from dbos import DBOSClient

    from storyboard.media import MediaInfo

TERMINAL = ("SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")
POLL_SECONDS = 0.25


class CacheShelf(Backend):
    """The provider as a render that leaves the work to workers sees it: its cache
    shelf and what it costs, and no way to send anything (a render with
    `--database` collects clips; a step here would be a bug, and says so)."""

    name = "kirin"
    spends_money = True

    def __init__(self, source: str, *, reads_local_files: bool) -> None:
        self.source = source
        self.reads_local_files = reads_local_files

    def _workers_only(self) -> EnvironmentProblem:
        return EnvironmentProblem("with --database the workers talk to the provider, not render")

    async def submit(
        self, payload: Mapping[str, Any], external_task_id: str, *, label: str = ""
    ) -> RemoteTask:
        raise self._workers_only()

    async def find(self, external_task_id: str) -> RemoteTask | None:
        raise self._workers_only()

    async def wait(self, remote: RemoteTask, *, on_status: StatusCallback | None = None) -> Outcome:
        raise self._workers_only()

    async def download(self, outcome: Outcome, dest: Path) -> MediaInfo:
        raise self._workers_only()


@dataclass
class TakeState:
    """How one take stands in the engine, in words for `status` and the live view."""

    job: TakeJob
    status: str | None  # its workflow's DBOS status, None if never enqueued
    worker: str | None
    result: dict[str, Any] | None  # the workflow's result, once it has one

    @property
    def settled(self) -> bool:
        return self.status in TERMINAL

    @property
    def kind(self) -> str:
        """One word (or two) for counting: the result's status, else where it is."""
        if self.result is not None:
            return str(self.result.get("status"))
        return {None: "not enqueued", "ENQUEUED": "queued"}.get(self.status, "running")

    def words(self) -> str:
        if self.result is not None:
            status = str(self.result.get("status"))
            error = self.result.get("error")
            return f"{status}: {error}" if error else status
        if self.status is None:
            return "not enqueued"
        if self.status == "ENQUEUED":
            return "queued for a worker"
        return f"running on worker {self.worker or '?'}"


class Coordinator:
    """A render's takes in the engine at `client`."""

    def __init__(self, client: DBOSClient, jobs: Sequence[TakeJob]) -> None:
        self.client = client
        self.jobs = list(jobs)
        # Who this render is: the jobs' `budget`, the same for all of them.
        self.render = self.jobs[0].budget if self.jobs else None

    def states(self) -> dict[str, TakeState]:
        """Every job's state, by label."""
        ids = [job.take_id for job in self.jobs]
        found = (
            {
                s.workflow_id: s
                for s in self.client.list_workflows(workflow_ids=ids, load_input=False)
            }
            if ids
            else {}
        )
        out = {}
        for job in self.jobs:
            flow = found.get(job.take_id)
            result = None
            if flow is not None and flow.status == "SUCCESS" and isinstance(flow.output, dict):
                result = flow.output
            elif flow is not None and flow.status in TERMINAL:
                why = flow.error if flow.error is not None else flow.status.lower()
                result = {"status": "failed", "error": f"the workflow ended: {why}"}
            out[job.label] = TakeState(
                job,
                flow.status if flow else None,
                flow.executor_id if flow else None,
                result,
            )
        return out

    def enqueue(self) -> set[str]:
        """Enqueue every job not in the engine yet, upstream first; the labels of the
        jobs that were already there (another render or machine asked for them)."""
        there = {label for label, state in self.states().items() if state.status is not None}
        for job in self.jobs:
            self.client.enqueue(
                {
                    "workflow_name": TAKE_WORKFLOW,
                    "queue_name": GRAPH_QUEUE,
                    "workflow_id": job.take_id,
                    "app_version": WORKFLOW_VERSION,
                },
                job.to_json(),
            )
        return there

    def follow(self, emit: EventSink, *, poll: float = POLL_SECONDS) -> dict[str, TakeState]:
        """Wait until every take has settled, telling `emit` as they start and end."""
        started: set[str] = set()
        ended: set[str] = set()
        while True:
            states = self.states()
            for label, state in states.items():
                if label not in started and state.status == "PENDING":
                    started.add(label)
                    emit({"event": "task_started", "task": label, "worker": state.worker})
                if label not in ended and state.result is not None:
                    ended.add(label)
                    emit(_ended(label, as_seen_by(state.result, self.render)))
            if all(state.settled for state in states.values()):
                return states
            time.sleep(poll)


def _ended(label: str, result: Mapping[str, Any]) -> dict[str, Any]:
    status = str(result.get("status"))
    kind = {"done": "task_done", "cached": "task_cached", "skipped": "task_skipped"}
    event: dict[str, Any] = {"event": kind.get(status, "task_failed"), "task": label}
    if status == "done":
        event.update(cost_usd=result.get("cost_usd"), duration=result.get("duration"))
    elif status == "cached":
        event["clip_cost_usd"] = result.get("clip_cost_usd")
    else:
        event["error" if status != "skipped" else "reason"] = result.get("error")
    return event


def as_seen_by(result: Mapping[str, Any], render: str | None) -> Mapping[str, Any]:
    """A take's result as `render` sees it: made for another render (the first to
    enqueue the take's workflow, whose input the engine keeps), it is a clip this
    render reused, and billed to the other."""
    if result.get("status") == "done" and result.get("render") != render:
        return {**result, "status": "cached", "cost_usd": 0.0}  # clip_cost_usd stays
    return result


def settled_results(states: Mapping[str, TakeState], render: str | None) -> dict[str, TaskResult]:
    """The workers' results as the run of `render` sees them (`as_seen_by`)."""
    out = {}
    for label, state in states.items():
        result = as_seen_by(state.result or {"status": "failed", "error": state.words()}, render)
        status = str(result.get("status"))
        out[label] = TaskResult(
            label,
            status,
            task=state.job.task,
            take=state.job.take,
            attempts=int(result.get("attempts") or 0),
            cost_usd=float(result.get("cost_usd") or 0.0) if status == "done" else 0.0,
            clip_cost_usd=result.get("clip_cost_usd"),
            error=result.get("error"),
        )
    return out
