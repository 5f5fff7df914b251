"""What a change to a storyboard would cost: two plans compared task by task.

Tasks are matched by id. A task is *changed* when its cache key, its takes or
the take the film uses differ (`fields.task_changes` says which fields);
*added* and *removed* are the ids only one plan has. What would be sent and
what it costs are the `plan` command's own rows (`storyboard.report.plan_rows`)
on the same cache shelf, so `diff` and `plan` can never disagree about a clip;
a changed task whose new key is already on the shelf (a revert) is cached.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from storyboard.compare.fields import FieldChange, Names, task_changes
from storyboard.compile.plan import CutEntry, Plan
from storyboard.report import plan_rows
from storyboard.run.cache import CacheEntry, ClipCache

FPS = 24  # the film's frame rate (storyboard.film.graph.FPS): lengths are whole frames
STATUSES = ("added", "removed", "changed", "unchanged")


@dataclass(frozen=True)
class TaskDiff:
    """One task of either plan: `status` is added, removed, changed or unchanged;
    the counts and costs are the working copy's (a removed task has none)."""

    task: str
    status: str
    changes: tuple[FieldChange, ...] = ()
    cached: bool = False
    takes: int = 0
    cached_takes: int = 0
    seconds: float = 0.0
    cost_usd: float = 0.0  # the takes that would be sent, at list prices
    reused_list_usd: float = 0.0  # the cached takes, at list prices
    reused_made_usd: float = 0.0  # the cached takes, at what they cost when made


@dataclass(frozen=True)
class PlanDiff:
    """The working copy's plan against the base's. `base_state`: `compiled`,
    `absent` (no such storyboard at the base) or `broken` (it does not compile);
    in the last two every task is added."""

    tasks: tuple[TaskDiff, ...]
    base_state: str
    film_seconds: float
    base_film_seconds: float | None
    shelf: str

    def having(self, *statuses: str) -> list[TaskDiff]:
        return [t for t in self.tasks if t.status in statuses]

    @property
    def to_send(self) -> list[TaskDiff]:
        """Tasks with a take missing from the shelf: what a render would pay for."""
        return [t for t in self.tasks if t.status != "removed" and t.cached_takes < t.takes]

    @property
    def cost_usd(self) -> float:
        return round(sum(t.cost_usd for t in self.tasks), 4)

    @property
    def takes_to_send(self) -> int:
        return sum(t.takes - t.cached_takes for t in self.to_send)

    @property
    def seconds_to_send(self) -> float:
        return sum(t.seconds * (t.takes - t.cached_takes) for t in self.to_send)

    @property
    def reused_clips(self) -> int:
        return sum(t.cached_takes for t in self.tasks)

    @property
    def reused_list_usd(self) -> float:
        return round(sum(t.reused_list_usd for t in self.tasks), 4)

    @property
    def reused_made_usd(self) -> float:
        return round(sum(t.reused_made_usd for t in self.tasks), 4)


def film_seconds(cut: Iterable[CutEntry]) -> float:
    """The film's length by the stitcher's arithmetic (`film.cutplan`): every
    segment in whole frames, less the overlap of each crossfade or xfade (a fade
    goes through black and overlaps nothing; the film opens on a fade in)."""
    frames, first = 0, True
    for entry in cut:
        for i, seg in enumerate(entry.segments):
            frames += round(seg.end * FPS) - round(seg.start * FPS)
            kind = entry.transition.type
            if i == 0 and not first and kind not in ("cut", "fade"):
                frames -= round(entry.transition.duration * FPS)
            first = False
    return frames / FPS


def compare(
    base: Plan | None,
    head: Plan,
    cache: ClipCache,
    *,
    base_state: str = "compiled",
    base_names: Names | None = None,
    head_names: Names | None = None,
) -> PlanDiff:
    """The diff of `head` (the working copy) against `base` (None: every task is
    added), with what `head` would send and reuse on `cache`'s shelf."""
    out = []
    rows = {r["task"]: r for r in plan_rows(head, cache)}
    for task in head.tasks:
        row = rows[task.id]
        old = base.by_id.get(task.id) if base is not None else None
        changes: list[FieldChange] = []
        if base is None or old is None:
            status = "added"
        else:
            changes = task_changes(old, task, base, head, base_names, head_names)
            status = "changed" if changes else "unchanged"
        # The cached takes' records, for what they cost when made (each clip is hashed
        # again here: plan_rows says how many are cached, not which).
        found = (
            [cache.get(task.cache_key, n) for n in task.take_numbers] if row["cached_takes"] else []
        )
        cached = [entry for entry in found if entry is not None]
        out.append(
            TaskDiff(
                task=task.id,
                status=status,
                changes=tuple(changes),
                cached=bool(row["cached"]),
                takes=int(row["takes"]),
                cached_takes=int(row["cached_takes"]),
                seconds=task.seconds,
                cost_usd=float(row["estimated_cost_usd"]),
                reused_list_usd=round(task.estimated_cost_usd * len(cached), 4),
                reused_made_usd=round(sum(_made_cost(entry) for entry in cached), 4),
            )
        )
    if base is not None:
        out += [TaskDiff(t.id, "removed") for t in base.tasks if t.id not in head.by_id]
    return PlanDiff(
        tasks=tuple(out),
        base_state=base_state,
        film_seconds=film_seconds(head.cut),
        base_film_seconds=film_seconds(base.cut) if base is not None else None,
        shelf=cache.source,
    )


def _made_cost(entry: CacheEntry) -> float:
    """What a cached take cost when it was made (its entry's record; 0 if unknown)."""
    cost = entry.meta.get("cost_usd")
    return float(cost) if isinstance(cost, int | float) else 0.0
