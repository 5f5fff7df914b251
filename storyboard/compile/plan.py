"""The plan, typed: what plan.json holds, from the compiler to the film.

The executor, the stitch orchestration, progress, critical paths and the run
report read these dataclasses, never plan.json's dicts. `to_json` gives
plan.json exactly (key order and number types included: the golden plans
are byte-identical), `from_json` reads it back, and the two are inverse.
Paths (`storyboard`, `output`, `audio.music`) are relative to the build
directory the plan was written for. Only the API payload stays a dict: it is
the request body, free-form by nature, checked against the API's schema.

The task graph is built here once (`Plan.graph`), by the one function that
also orders the compiler's task specs and the lint stage's scene graph. It is
a `TaskGraph`: nodes in the order given, edges both ways, and a topological
order that breaks ties by that order. That is all the compiler, the executor
and the CLI ask of a graph, and it is a few lines; networkx (a fifth of a
second to import, on every `render`) is left to the one rule that lists the
cycles of a looping storyboard.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from storyboard.language.montage import Audio, Film, Transition
from storyboard.language.takes import Take, take_suffix

PLAN_VERSION = 1
ESTIMATE_NOTE = "list prices per output second; the bill is usage.cost"


class TaskGraph:
    """Nodes in the order they were given, and an edge from each dependency to its
    dependant (`successors`: who waits for a node; `predecessors`: what it waits for)."""

    def __init__(self, nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> None:
        self.nodes: list[str] = list(dict.fromkeys(nodes))
        self._out: dict[str, list[str]] = {n: [] for n in self.nodes}
        self._in: dict[str, list[str]] = {n: [] for n in self.nodes}
        for dep, node in dict.fromkeys(edges):
            self._out[dep].append(node)
            self._in[node].append(dep)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(dep, node) for dep in self.nodes for node in self._out[dep]]

    def __contains__(self, node: object) -> bool:
        return node in self._out

    def successors(self, node: str) -> list[str]:
        return list(self._out[node])

    def predecessors(self, node: str) -> list[str]:
        return list(self._in[node])

    def descendants(self, node: str) -> set[str]:
        """Everything that waits for `node`, directly or not."""
        seen: set[str] = set()
        todo = list(self._out[node])
        while todo:
            here = todo.pop()
            if here not in seen:
                seen.add(here)
                todo.extend(self._out[here])
        return seen

    def order(self) -> list[str] | None:
        """Dependencies first, ties broken by the nodes' order (Kahn's algorithm with
        the ready nodes in a heap by rank): the same graph always gives the same
        order, so plan.json is reproducible. None if the graph has a cycle."""
        rank = {n: i for i, n in enumerate(self.nodes)}
        waiting = {n: len(self._in[n]) for n in self.nodes}
        ready = [rank[n] for n in self.nodes if not waiting[n]]
        heapq.heapify(ready)
        order = []
        while ready:
            node = self.nodes[heapq.heappop(ready)]
            order.append(node)
            for child in self._out[node]:
                waiting[child] -= 1
                if not waiting[child]:
                    heapq.heappush(ready, rank[child])
        return order if len(order) == len(self.nodes) else None


def dependency_graph(nodes: Iterable[tuple[str, Iterable[str]]]) -> TaskGraph:
    """The graph with an edge dep -> node for each (node, its dependencies), nodes in
    the order given. A dependency that is not itself a node is left out: lint reports
    a reference to an unknown scene on its own, and the compiler never makes one."""
    pairs = [(node, list(deps)) for node, deps in nodes]
    known = {node for node, _ in pairs}
    edges = [(dep, node) for node, deps in pairs for dep in deps if dep in known]
    return TaskGraph([node for node, _ in pairs], edges)


def topological_order(graph: TaskGraph) -> list[str]:
    """`graph.order()`, for a graph known to have no cycle (lint reports cycles)."""
    order = graph.order()
    if order is None:
        raise ValueError("the task graph has a cycle")
    return order


@dataclass(frozen=True)
class PlanShot:
    """Where one shot sits in its task's clip (seconds from the clip's start)."""

    index: int
    id: str | None
    start: float
    duration: float | None

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "start": self.start, "duration": self.duration}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanShot:
        return cls(data["index"], data["id"], data["start"], data["duration"])


@dataclass(frozen=True)
class PlanTask:
    """One API request: a scene, or one part of a split scene."""

    id: str
    scene: str
    part: int
    parts: int
    depends_on: tuple[str, ...]
    seconds: float
    shots: tuple[PlanShot, ...]
    cache_key: str
    estimated_cost_usd: float  # one take's
    payload: dict[str, Any]  # the request body, placeholders unresolved
    takes: int = 1  # the storyboard's `takes:`: take 1 to N are made
    take: int = 1  # the chosen take: the one the film and the dependants use
    request_key: str = ""  # the key whatever takes upstream were picked (the compiler sets it)
    # The author's name for each API token (image_1 -> "keeper"): for people (the preview
    # cards), never in the payload, so it changes no request and no cache key.
    names: dict[str, str] = field(default_factory=dict)

    @property
    def external_task_id(self) -> str:
        """Take 1's (R23); take k's is this with `-t<k>` (`take_external_id`)."""
        return str(self.payload["external_task_id"])

    def take_external_id(self, number: int) -> str:
        return self.external_task_id + take_suffix(number)

    @property
    def take_numbers(self) -> tuple[int, ...]:
        """The takes the plan needs: 1 to `takes`, and the chosen one."""
        return tuple(sorted({*range(1, self.takes + 1), self.take}))

    @property
    def chosen(self) -> Take:
        return Take(self.id, self.take)

    @property
    def cost_of_takes(self) -> float:
        return self.estimated_cost_usd * len(self.take_numbers)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scene": self.scene,
            "part": self.part,
            "parts": self.parts,
            "depends_on": list(self.depends_on),
            "seconds": self.seconds,
            "shots": [s.to_json() for s in self.shots],
            "cache_key": self.cache_key,
            "estimated_cost_usd": self.estimated_cost_usd,
            "takes": self.takes,
            "take": self.take,
            "request_key": self.request_key,
            "names": self.names,
            "payload": self.payload,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanTask:
        return cls(
            id=data["id"],
            scene=data["scene"],
            part=data["part"],
            parts=data["parts"],
            depends_on=tuple(data["depends_on"]),
            seconds=data["seconds"],
            shots=tuple(PlanShot.from_json(s) for s in data["shots"]),
            cache_key=data["cache_key"],
            estimated_cost_usd=data["estimated_cost_usd"],
            payload=data["payload"],
            takes=data.get("takes", 1),
            take=data.get("take", 1),
            request_key=data.get("request_key", data["cache_key"]),
            names=dict(data.get("names", {})),
        )


@dataclass(frozen=True)
class Segment:
    """The part of a task's clip (seconds from its start) a cut entry uses."""

    task: str
    start: float
    end: float

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "start": self.start, "end": self.end}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segment:
        return cls(data["task"], data["start"], data["end"])


@dataclass(frozen=True)
class CutEntry:
    """One entry of the film's cut: a scene's clips, trimmed, led in by a transition."""

    scene: str
    trim: tuple[float, float] | None
    transition: Transition
    segments: tuple[Segment, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "scene": self.scene,
            "trim": list(self.trim) if self.trim is not None else None,
            "transition": {"type": self.transition.type, "duration": self.transition.duration},
            "segments": [s.to_json() for s in self.segments],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CutEntry:
        trim = data["trim"]
        transition = data["transition"]
        return cls(
            scene=data["scene"],
            trim=(trim[0], trim[1]) if trim is not None else None,
            transition=Transition(transition["type"], transition["duration"]),
            segments=tuple(Segment.from_json(s) for s in data["segments"]),
        )


@dataclass(frozen=True)
class Estimate:
    """What the plan would cost at list prices, if no clip were cached."""

    tasks: int
    seconds: float
    total_usd: float
    currency: str = "USD"
    note: str = ESTIMATE_NOTE

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "seconds": self.seconds,
            "total_usd": self.total_usd,
            "currency": self.currency,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Estimate:
        return cls(
            data["tasks"], data["seconds"], data["total_usd"], data["currency"], data["note"]
        )

    @classmethod
    def of(cls, tasks: Sequence[PlanTask]) -> Estimate:
        """Every take counts: `tasks` is the requests the plan makes."""
        return cls(
            tasks=sum(len(t.take_numbers) for t in tasks),
            seconds=sum(t.seconds * len(t.take_numbers) for t in tasks),
            total_usd=total_cost(tasks),
        )


def total_cost(tasks: Iterable[PlanTask]) -> float:
    """List price of every take the plan needs."""
    return round(sum(t.cost_of_takes for t in tasks), 4)


@dataclass(frozen=True)
class Plan:
    """plan.json: the tasks in a topological order, the cut, the audio, the film."""

    storyboard: str
    title: str
    output: str
    tasks: tuple[PlanTask, ...]
    cut: tuple[CutEntry, ...]
    audio: Audio | None
    film: Film
    estimate: Estimate
    version: int = PLAN_VERSION

    @cached_property
    def by_id(self) -> dict[str, PlanTask]:
        return {t.id: t for t in self.tasks}

    @cached_property
    def graph(self) -> TaskGraph:
        """The task graph (an edge from each dependency to its dependant), built once."""
        return dependency_graph((t.id, t.depends_on) for t in self.tasks)

    @cached_property
    def order(self) -> list[str]:
        """Task ids, dependencies first (the order plan.json lists them in)."""
        return topological_order(self.graph)

    @property
    def total_cost(self) -> float:
        return self.estimate.total_usd

    def task(self, task_id: str) -> PlanTask:
        return self.by_id[task_id]

    def children(self, task_id: str) -> list[str]:
        """The tasks that wait for `task_id`, in plan order."""
        return self.graph.successors(task_id)

    def descendants(self, task_id: str) -> set[str]:
        return self.graph.descendants(task_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "storyboard": self.storyboard,
            "version": self.version,
            "title": self.title,
            "output": self.output,
            "tasks": [t.to_json() for t in self.tasks],
            "cut": [c.to_json() for c in self.cut],
            "audio": self.audio.to_json() if self.audio is not None else None,
            "film": self.film.to_json(),
            "estimate": self.estimate.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        audio = data["audio"]
        return cls(
            storyboard=data["storyboard"],
            version=data["version"],
            title=data["title"],
            output=data["output"],
            tasks=tuple(PlanTask.from_json(t) for t in data["tasks"]),
            cut=tuple(CutEntry.from_json(c) for c in data["cut"]),
            audio=Audio.from_json(audio) if audio is not None else None,
            film=Film.from_json(data["film"]),
            estimate=Estimate.from_json(data["estimate"]),
        )
