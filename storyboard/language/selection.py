"""The selection: which take of each task the film uses, in `<stem>.takes.yaml`.

The file sits beside the storyboard and is committed with it. For each task it
holds the pick (a take number *and* the cache key of the request it was made
for) and, per take, an optional verdict (`good`, `reject`) and a note, each
with its key too. A pick or verdict whose key is not the task's key now was
made for an old version of the shot: it is stale, reported, and never applied
to a different request.

This module holds the types and the one rule that turns them into a choice
(`Selection.choose`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from storyboard.language.montage import UNPLACED
from storyboard.problems import Pos, Problem

SUFFIX = ".takes.yaml"
Verdict = Literal["good", "reject"]
VERDICTS: tuple[Verdict, ...] = ("good", "reject")


def selection_path(story_path: Path) -> Path:
    """`<stem>.takes.yaml` beside the storyboard."""
    return story_path.with_name(story_path.stem + SUFFIX)


@dataclass(frozen=True)
class Pick:
    """The take the film should use, for the request whose cache key is `key`."""

    take: int
    key: str
    pos: Pos = UNPLACED


@dataclass(frozen=True)
class TakeMark:
    """What was said about one take of the request `key`: a verdict, a note, or
    only that it was made (`storyboard retake` records the takes it adds)."""

    take: int
    key: str
    verdict: Verdict | None = None
    note: str | None = None
    pos: Pos = UNPLACED


@dataclass(frozen=True)
class Chosen:
    """The take a task's film and dependants use, and why."""

    take: int
    picked: bool  # chosen by a pick (else: the first take not rejected)
    stale: Pick | None = None  # a pick made for another version of the task: not applied


@dataclass(frozen=True)
class TaskSelection:
    task: str
    pos: Pos = UNPLACED
    pick: Pick | None = None
    marks: tuple[TakeMark, ...] = ()

    def marks_for(self, key: str) -> dict[int, TakeMark]:
        """The marks made for the request `key` (the current version), by take."""
        return {m.take: m for m in self.marks if m.key == key}

    def stale_marks(self, key: str) -> list[TakeMark]:
        return [m for m in self.marks if m.key != key]


@dataclass(frozen=True)
class Selection:
    """A loaded selection file (empty when there is none). `problems`: what is wrong
    with the file itself, at its lines (an unreadable file, one its schema refuses)."""

    path: Path | None = None
    tasks: Mapping[str, TaskSelection] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    def choose(self, task_id: str, key: str) -> Chosen:
        """The take of `task_id` (whose cache key is now `key`) that the film uses:
        the pick, if it was made for this key and its take is not rejected; else the
        first take not rejected (take 1 when nothing was said)."""
        entry = self.tasks.get(task_id)
        if entry is None:
            return Chosen(1, picked=False)
        marks = entry.marks_for(key)
        rejected = {n for n, m in marks.items() if m.verdict == "reject"}
        pick = entry.pick
        stale = pick if pick is not None and pick.key != key else None
        if pick is not None and stale is None and pick.take not in rejected:
            return Chosen(pick.take, picked=True)
        take = 1
        while take in rejected:
            take += 1
        return Chosen(take, picked=False, stale=stale)

    def made(self, task_id: str, key: str) -> set[int]:
        """Take numbers of `key` this file knows were made or judged."""
        entry = self.tasks.get(task_id)
        return set(entry.marks_for(key)) if entry is not None else set()
