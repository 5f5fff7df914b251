"""How the executor shares the provider's capacity among tasks: a concurrency
limit that halves on back-pressure (E1, HTTP 429) and grows back slowly, hands
free slots to the most urgent task first, and lets a finishing task keep its
slot for the task it unblocks; the urgency itself (the longest chain of
work each task starts); and how long a retry waits before it asks again.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random

from storyboard.compile.plan import Plan
from storyboard.errors import ProviderError, RateLimited
from storyboard.run.record import RunOptions


class AdaptiveLimit:
    """A semaphore whose size halves on back-pressure and grows back one by one.

    When several tasks wait for a slot, the one with the highest priority goes
    first (ties in arrival order): the executor gives each task the length of
    the longest chain of work it starts, so critical paths never queue behind
    tasks that nothing waits for. A finishing task can hand its slot to the
    task it unblocks (`release(handoff=...)`): the slot stays reserved for the
    few moments that task needs to download its input and ask for it.
    """

    def __init__(self, limit: int) -> None:
        self.ceiling = max(1, limit)
        self.limit = self.ceiling
        self.active = 0
        self._streak = 0
        self._cond = asyncio.Condition()
        self._waiting: list[tuple[float, int, str]] = []  # a heap of (-priority, ticket, key)
        self._reserved: dict[str, str] = {}  # the task a slot is kept for -> who gave it
        self._tickets = itertools.count()

    def _may_go(self, entry: tuple[float, int, str]) -> bool:
        key = entry[2]
        # A reserved task takes its slot; so does the task that gave it, asking again
        # (its download failed, and the task it handed its slot to waits for it).
        if key in self._reserved or key in self._reserved.values():
            return self.active < self.limit
        if self.active + len(self._reserved) >= self.limit:
            return False
        return entry == min(e for e in self._waiting if e[2] not in self._reserved)

    async def acquire(self, priority: float = 0.0, key: str = "") -> None:
        entry = (-priority, next(self._tickets), key)
        async with self._cond:
            heapq.heappush(self._waiting, entry)
            try:
                await self._cond.wait_for(lambda: self._may_go(entry))
            finally:
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
                self._cond.notify_all()  # the next in line may fit too, or now be first
            self._reserved.pop(key, None)
            for kept, giver in list(self._reserved.items()):
                if giver == key:  # taken back; handed on again when it finishes
                    del self._reserved[kept]
            self.active += 1

    async def release(self, *, ok: bool, key: str = "", handoff: str | None = None) -> None:
        async with self._cond:
            self.active -= 1
            if handoff is not None:
                self._reserved[handoff] = key
            if ok:
                self._streak += 1
                if self.limit < self.ceiling and self._streak >= self.limit:
                    self.limit += 1
                    self._streak = 0
            self._cond.notify_all()

    async def forget(self, key: str) -> None:
        """Drop a reservation its task will not use (it was cached, skipped or failed)."""
        if key in self._reserved:
            async with self._cond:
                self._reserved.pop(key, None)
                self._cond.notify_all()

    def back_off(self) -> None:
        self.limit = max(1, self.limit // 2)
        self._streak = 0


def critical_paths(plan: Plan) -> dict[str, float]:
    """For each task, the seconds of video on the longest chain of tasks it starts
    (itself included): the executor's priority when slots are scarce."""
    length: dict[str, float] = {}
    for task_id in reversed(plan.order):
        below = max((length[c] for c in plan.children(task_id)), default=0.0)
        length[task_id] = float(plan.task(task_id).seconds or 0) + below
    return length


def retry_delay(
    failures: int, exc: ProviderError, options: RunOptions, rng: random.Random
) -> float:
    """Seconds before the `failures`-th retry: the provider's Retry-After when it
    gave one, else jittered exponential backoff (half to all of the ceiling, so
    that tasks refused together do not all ask again together)."""
    if isinstance(exc, RateLimited) and exc.retry_after:
        return min(options.backoff_max, exc.retry_after)
    ceiling = min(options.backoff_max, options.backoff_base * 2.0 ** (failures - 1))
    return ceiling * rng.uniform(0.5, 1.0)
