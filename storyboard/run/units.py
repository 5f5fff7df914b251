"""What a run settles: takes, not tasks.

A task with `takes: N` is N requests for the same payload; the plan needs take 1
to N and the chosen take (`PlanTask.take_numbers`). `storyboard retake` adds
takes after the highest one known (on the backend's shelf of the cache, in the
journal, or planned), and a take a killed run sent and never finished is
settled by the next run whatever its number: it was paid for. Each take waits
only for the chosen takes of the tasks it is built from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

from storyboard.compile.plan import Plan, PlanTask
from storyboard.language.takes import Take
from storyboard.run.cache import ClipCache
from storyboard.run.journal import Journal, record_key

UNFINISHED = ("submitting", "submitted", "completed")  # sent, maybe paid, not yet kept


@dataclass(frozen=True)
class Unit:
    """One take of one task, as the executor settles it."""

    task: PlanTask
    take: Take
    deps: tuple[str, ...]  # labels of the upstream takes it is built from
    new: bool = False  # added by `retake` in this run: always sent
    resumed: bool = False  # sent by an earlier run and not finished: always settled

    @property
    def label(self) -> str:
        return self.take.label

    @property
    def number(self) -> int:
        return self.take.number

    @property
    def chosen(self) -> bool:
        """The take the film and the dependants use."""
        return self.number == self.task.take

    @property
    def external_task_id(self) -> str:
        return self.task.take_external_id(self.number)


@dataclass(frozen=True)
class Units:
    """Every take a run settles, in plan order, with who waits for whom."""

    by_label: Mapping[str, Unit]

    def __iter__(self) -> Iterator[Unit]:
        return iter(self.by_label.values())

    def __len__(self) -> int:
        return len(self.by_label)

    def __getitem__(self, label: str) -> Unit:
        return self.by_label[label]

    @cached_property
    def children(self) -> dict[str, list[str]]:
        """The takes that wait for a take, by its label, in plan order."""
        out: dict[str, list[str]] = {label: [] for label in self.by_label}
        for unit in self.by_label.values():
            for dep in unit.deps:
                if dep in out:
                    out[dep].append(unit.label)
        return out

    def new_takes(self) -> list[Take]:
        return [u.take for u in self.by_label.values() if u.new]


def chosen_labels(plan: Plan) -> dict[str, str]:
    """Each task's chosen take, by task id: what the film and dependants are built from."""
    return {t.id: t.chosen.label for t in plan.tasks}


def plan_units(
    plan: Plan,
    shelf: ClipCache,
    journal: Journal | None,
    retakes: Mapping[str, int] | None = None,
) -> Units:
    """The takes to settle: each task's planned takes, the unfinished ones a killed
    run left, and `retakes[task]` new ones numbered after every take known."""
    chosen = chosen_labels(plan)
    retakes = retakes or {}
    units: dict[str, Unit] = {}
    for task in plan.tasks:
        deps = tuple(chosen[d] for d in task.depends_on if d in chosen)
        numbers = {n: Unit(task, Take(task.id, n), deps) for n in task.take_numbers}
        identity = record_key(shelf.source, shelf.entry_name(task.cache_key))
        records = journal.takes_of(task.id, identity) if journal is not None else {}
        for n, record in records.items():
            if n not in numbers and record.state in UNFINISHED:
                numbers[n] = Unit(task, Take(task.id, n), deps, resumed=True)
        count = retakes.get(task.id, 0)
        if count:
            highest = max({*numbers, *records, *shelf.takes(task.cache_key)})
            for n in range(highest + 1, highest + 1 + count):
                numbers[n] = Unit(task, Take(task.id, n), deps, new=True)
        for n in sorted(numbers):
            units[numbers[n].label] = numbers[n]
    return Units(units)
