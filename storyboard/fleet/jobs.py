"""What a render hands to the workers: one job per take, named by what it makes.

A take's workflows are named after the clip they make: the provider's cache
source, the cache entry of its request (which covers everything upstream) and
the take number. However many machines, builds and storyboards ask for the
same take, they name the same workflow, and DBOS runs a workflow id once: the
provider receives one create per take.

A take's workflow waits on the graph queue, which has no limit, for the takes
it is built from, and makes it; each create and the wait for its task is a
workflow of its own on the provider queue, whose concurrency is the provider
account's limit (`storyboard.fleet.workflows`), so a slot of the account is
held only while the provider works on a task of ours.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from storyboard import __version__
from storyboard.compile.plan import Estimate, Plan
from storyboard.run.cache import ClipCache
from storyboard.run.slots import critical_paths
from storyboard.run.units import Units

GRAPH_QUEUE = "storyboard-graph"  # takes waiting for their upstream: no limit
PROVIDER_QUEUE = "storyboard-provider"  # takes at the provider: the account's limit
TAKE_WORKFLOW = "storyboard.take"
PROVIDER_WORKFLOW = "storyboard.provider"
# Workers run only the workflows of their own version (DBOS's application version):
# a job written by another release of the tool waits for a worker of that release.
WORKFLOW_VERSION = f"storyboard-{__version__}-jobs1"
LEAST_URGENT = 1_000_000  # the priority of a take that starts no chain (DBOS: 1 is first)


def take_name(source: str, entry: str, take: int) -> str:
    """What a take is called in the engine: the clip it makes, wherever it is asked for."""
    return f"{source}:{entry}:t{take}"


@dataclass(frozen=True)
class TakeJob:
    """One take for a worker: its plan (the task and the tasks it is built from,
    which the worker finds in the shared cache), and where its storyboard lives."""

    name: str  # take_name(...)
    label: str  # TASK or TASK@K
    task: str
    take: int
    cache_key: str
    plan: Mapping[str, Any]  # the one-take plan, as plan.json writes plans
    story_dir: str
    assets_base_url: str | None
    after: tuple[str, ...] = ()  # the names of the takes it is built from
    # The render that asked: its ledger (`fleet.budget`), and whom the take is billed to.
    budget: str | None = None
    max_cost: float | None = None  # its --max-cost
    # The seconds of video on the longest chain of tasks the take starts, in the
    # render's whole plan (`run.slots.critical_paths`): as on one machine, the most
    # urgent takes get the account's slots first (`queue_priority`).
    urgency: float = 0.0

    @property
    def source(self) -> str:
        """The provider's cache source the take is for (the first part of its name)."""
        return self.name.split(":", 1)[0]

    @property
    def take_id(self) -> str:
        return f"take:{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "task": self.task,
            "take": self.take,
            "cache_key": self.cache_key,
            "plan": dict(self.plan),
            "story_dir": self.story_dir,
            "assets_base_url": self.assets_base_url,
            "after": list(self.after),
            "budget": self.budget,
            "max_cost": self.max_cost,
            "urgency": self.urgency,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TakeJob:
        return cls(
            name=str(data["name"]),
            label=str(data["label"]),
            task=str(data["task"]),
            take=int(data["take"]),
            cache_key=str(data["cache_key"]),
            plan=dict(data["plan"]),
            story_dir=str(data["story_dir"]),
            assets_base_url=data.get("assets_base_url"),
            after=tuple(str(a) for a in data.get("after", ())),
            budget=data.get("budget"),
            max_cost=None if data.get("max_cost") is None else float(data["max_cost"]),
            urgency=float(data.get("urgency") or 0.0),
        )


def queue_priority(urgency: float) -> int:
    """A take's DBOS priority on the account's queue (lower goes first): the longer
    the chain it starts, the sooner; ties in the order they were enqueued."""
    return max(1, LEAST_URGENT - round(urgency * 10))


def one_take_plan(plan: Plan, task_id: str, take: int) -> Plan:
    """The plan a worker runs for one take: the task, with that take chosen, and
    every task it is built from (their chosen clips come from the shared cache)."""
    wanted: set[str] = set()
    stack = [task_id]
    while stack:
        current = stack.pop()
        if current not in wanted:
            wanted.add(current)
            stack.extend(plan.task(current).depends_on)
    tasks = tuple(
        replace(t, take=take) if t.id == task_id else t for t in plan.tasks if t.id in wanted
    )
    return Plan(
        storyboard=plan.storyboard,
        title=plan.title,
        output=plan.output,
        tasks=tasks,
        cut=(),
        audio=None,
        film=plan.film,
        estimate=Estimate.of(tasks),
        version=plan.version,
    )


def plan_jobs(
    plan: Plan,
    units: Units,
    shelf: ClipCache,
    *,
    story_dir: Path,
    assets_base_url: str | None,
    cached: Collection[str] = (),
    budget: str | None = None,
    max_cost: float | None = None,
) -> list[TakeJob]:
    """A job for every take of `units` but the `cached` ones (labels), in plan order
    (upstream first); a job waits only for upstream takes that have jobs."""
    urgency = critical_paths(plan)
    names = {
        unit.label: take_name(shelf.source, shelf.entry_name(unit.task.cache_key), unit.number)
        for unit in units
        if unit.label not in cached
    }
    return [
        TakeJob(
            name=names[unit.label],
            label=unit.label,
            task=unit.task.id,
            take=unit.number,
            cache_key=unit.task.cache_key,
            plan=one_take_plan(plan, unit.task.id, unit.number).to_json(),
            story_dir=str(story_dir),
            assets_base_url=assets_base_url,
            after=tuple(names[dep] for dep in unit.deps if dep in names),
            budget=budget,
            max_cost=max_cost,
            urgency=urgency[unit.task.id],
        )
        for unit in units
        if unit.label in names
    ]
