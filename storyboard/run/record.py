"""What a run is asked to do and what it did: the options, each task's result,
and the report that run.json and the CLI's summary are written from.

One meaning of *attempt* for the events, run.json and the live view: an attempt
is one provider task, a create the provider accepted (or, for a task that
failed before any create was accepted, its one try). A request refused or lost
on the way (HTTP 429 or 5xx, E1 at create, a dropped connection) is a *retry*
of the same attempt, and so is fetching its clip again; a provider task that
failed (E1/E2) or was lost makes the next attempt, under a new external id. So
`task_submitted` says attempt N exists (once per N), `task_retry` says which
attempt it retries (`retry` >= 1; or `retry` 0 with `failed_attempt` N-1 when it
starts attempt N), and run.json's `attempts` is the last attempt's N.

Two sums of money, never one for the other: what the provider billed in this
run (`billed`), and what the clips reused from the cache cost when they were
first rendered (`reused_cost`); a render served from the cache bills nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storyboard.compile.plan import PlanTask
from storyboard.run.cache import ClipCache


@dataclass(frozen=True)
class RunOptions:
    jobs: int = 4
    max_cost: float | None = None
    retakes: Mapping[str, int] = field(default_factory=dict)  # task -> new takes to make
    only: frozenset[str] | None = None  # tasks to run; others only from cache
    takes: frozenset[str] | None = None  # of those, only these takes (labels): a worker's one
    max_attempts: int = 6  # provider tasks made for one task (after E1/E2, a lost task)
    retry_seconds: float = 900.0  # how long one task retries the transport's failures
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    seed: int | None = None


def pending_cost(tasks: Iterable[PlanTask], shelf: ClipCache, options: RunOptions) -> float:
    """Estimated cost of every take a run would send: the planned takes of the
    selected tasks that the backend's shelf of the cache cannot serve, and the new
    takes `retake` asks for. The one reckoning of what a run would spend: the
    executor's budget check and the spend gate before a run (`storyboard.spend`)
    both ask it."""
    total = 0.0
    for t in tasks:
        made = options.retakes.get(t.id, 0)
        if options.only is None or t.id in options.only:
            made += sum(1 for n in t.take_numbers if shelf.get(t.cache_key, n) is None)
        total += made * t.estimated_cost_usd
    return total


@dataclass
class TaskResult:
    """What became of one take (`id` is its label: `TASK`, `TASK@2`)."""

    id: str
    status: str  # done | cached | failed | skipped | unselected | interrupted
    attempts: int = 0  # provider tasks made for it (see the module's note on attempts)
    seconds: float = 0.0
    cost_usd: float = 0.0  # billed in this run
    clip_cost_usd: float | None = None  # what the clip cost when the provider made it
    cache_hit: bool = False
    error: str | None = None
    clip: Path | None = None
    duration: float | None = None
    task: str = ""  # the task it is a take of ("" for `id`)
    take: int = 1
    chosen: bool = True  # the take the film uses

    def __post_init__(self) -> None:
        self.task = self.task or self.id

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "take": self.take,
            "chosen": self.chosen,
            "status": self.status,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "cost_usd": round(self.cost_usd, 4),
            "clip_cost_usd": None if self.clip_cost_usd is None else round(self.clip_cost_usd, 4),
            "cache_hit": self.cache_hit,
            "error": self.error,
            "clip": str(self.clip) if self.clip else None,
            "duration": self.duration,
        }


@dataclass
class RunReport:
    results: dict[str, TaskResult] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every task the user asked for is there (left-out tasks do not count)."""
        return all(r.status in ("done", "cached", "unselected") for r in self.results.values())

    @property
    def complete(self) -> bool:
        """Every clip the film uses (each task's chosen take) is there: it can be cut."""
        return all(r.status in ("done", "cached") for r in self.results.values() if r.chosen)

    @property
    def billed(self) -> float:
        """What the provider billed in this run."""
        return sum(r.cost_usd for r in self.results.values())

    @property
    def reused_cost(self) -> float:
        """What the takes served from the cache cost when they were first rendered
        (paid then, by this build or another; not billed again)."""
        return sum(r.clip_cost_usd or 0.0 for r in self.results.values() if r.status == "cached")

    @property
    def clips_cost(self) -> float:
        """What the takes of this run cost when they were made, in this run or before."""
        return sum(
            r.clip_cost_usd or 0.0 for r in self.results.values() if r.status in ("done", "cached")
        )

    def money(self) -> str:
        """The summary's words for money: this run's bill first, then what the reused
        clips cost when they were made, so that a render served from the cache never
        reads as a second charge ("$0.00 this run; $5.38 when first rendered")."""
        words = f"${self.billed:.2f} this run"
        reused = self.count("cached")
        if reused and self.reused_cost > 1e-9:
            clips = "clip" if reused == 1 else "clips"
            words += f"; the {reused} reused {clips}: ${self.reused_cost:.2f} when first rendered"
        return words

    def count(self, status: str) -> int:
        return sum(1 for r in self.results.values() if r.status == status)
