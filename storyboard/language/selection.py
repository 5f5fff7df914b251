"""The selection: which take of each task the film uses, in `<stem>.takes.yaml`.

The file sits beside the storyboard and is committed with it. For each task it
holds the pick (a take number *and* the cache key of the request it was made
for) and, per take, an optional verdict (`good`, `reject`) and a note, each
with its key too. A pick or verdict whose key is not the task's key now was
made for an old version of the shot: it is stale, reported, and never applied
to a different request.

This module holds the types, the one rule that turns them into a choice
(`Selection.choose`), `load_selection`, and the writers. Every writer goes
through `edit_selection`: the CLI and the review server may write at once, so
each edit holds an exclusive lock on its folder, reads it afresh, changes
the round-trip tree (comments, key order and entries it does not touch stay as
written) and replaces the file atomically. A file that does not parse or that
its schema refuses is never written over: the user fixes it by hand.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from storyboard.errors import EnvironmentProblem, UsageError
from storyboard.language.load import Document, NodePath
from storyboard.language.montage import UNPLACED
from storyboard.language.selection_file import (
    KEY,
    parse_selection_text,
    read_selection_file,
    selection_yaml,
)
from storyboard.problems import Pos, Problem
from storyboard.scratch import atomic_write

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None  # type: ignore[assignment]

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


def _typed(doc: Document) -> dict[str, TaskSelection]:
    """The tasks of a file the schema accepted."""
    out = {}
    for task, entry in (doc.data.get("tasks") or {}).items():
        at: NodePath = ("tasks", task)
        raw_pick = entry.get("pick")
        pick = None
        if raw_pick is not None:
            pick = Pick(raw_pick["take"], raw_pick["key"], doc.pos((*at, "pick"), key=True))
        marks = tuple(
            TakeMark(
                m["take"], m["key"], m.get("verdict"), m.get("note"), doc.pos((*at, "takes", i))
            )
            for i, m in enumerate(entry.get("takes") or [])
        )
        out[task] = TaskSelection(task, doc.pos(at, key=True), pick, marks)
    return out


def load_selection(path: Path) -> Selection:
    """The selection in `path`: empty when there is no file; with positioned problems
    (and no tasks) when it cannot be read or its schema refuses it. Never raises for
    what the file holds."""
    read = read_selection_file(path)
    if read.problems or read.doc is None:
        return Selection(path, {}, tuple(read.problems))
    return Selection(path, _typed(read.doc))


# --- writing it ---------------------------------------------------------------------

HEADER = (
    "# Which take of each task the film uses; written by `storyboard pick`/`reject` and\n"
    "# the review page. Hand edits and comments survive.\n"
)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on the folder that holds `path`, held for one edit: the
    kernel's (flock), so a killed writer never leaves it taken, and no lock file is
    left beside a file meant to be committed."""
    try:
        folder = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write beside {path}: {exc.strerror or exc}") from exc
    try:
        if fcntl is not None:
            fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)


def edit_selection(path: Path, change: Callable[[CommentedMap], None]) -> None:
    """Apply `change` to the round-trip tree of the selection file in `path` and write
    it back atomically, under the file's lock (created with HEADER when missing).
    Raises UsageError, and writes nothing, when the file on disk (or the edit's
    result) is not a valid selection file."""
    with _locked(path):
        read = read_selection_file(path)
        if read.problems:
            first = read.problems[0]
            raise UsageError(
                f"{first.file}:{first.line}:{first.column}: {first.message}; "
                f"{path} was not changed (fix it by hand, or move it away)"
            )
        tree = read.tree
        if tree is None:  # no file, or one with nothing but comments: its comments stay
            start = read.text if read.text.strip() else HEADER
            tree = selection_yaml().load(start.rstrip("\n") + "\nversion: 1\n")
        change(tree)
        out = io.StringIO()
        selection_yaml().dump(tree, out)
        text = out.getvalue()
        after = parse_selection_text(path, text)
        if after.problems:
            raise UsageError(f"refusing to write {path}: {after.problems[0].message}")
        try:
            atomic_write(path, text)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot write {path}: {exc.strerror or exc}") from exc


def _checked(task: str, take: int, key: str) -> None:
    if not isinstance(task, str) or not task:
        raise UsageError("a task id is needed")
    if isinstance(take, bool) or not isinstance(take, int) or take < 1:
        raise UsageError(f"take numbers start at 1, not {take!r}")
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise UsageError(f"{key!r} is not a cache key (64 hex digits)")


def _flow(**items: object) -> CommentedMap:
    """A small mapping written on one line, as `{take: 2, key: ...}`."""
    node = CommentedMap(items)
    node.fa.set_flow_style()
    return node


def _task_node(tree: CommentedMap, task: str) -> CommentedMap:
    tasks = tree.get("tasks")
    if tasks is None:
        tasks = tree["tasks"] = CommentedMap()
    entry = tasks.get(task)
    if entry is None:
        entry = tasks[task] = CommentedMap()
    return entry  # type: ignore[no-any-return]


def _mark_node(entry: CommentedMap, take: int, key: str, *, add: bool) -> CommentedMap | None:
    """The `takes:` item for (take, key); appended bare when missing and `add`."""
    marks = entry.get("takes")
    for mark in marks or []:
        if mark.get("take") == take and mark.get("key") == key:
            return mark  # type: ignore[no-any-return]
    if not add:
        return None
    if marks is None:
        marks = entry["takes"] = CommentedSeq()
    mark = _flow(take=take, key=key)
    marks.append(mark)
    return mark


def write_pick(path: Path, task: str, take: int, key: str) -> None:
    """Make take `take` of `task` (whose request's cache key is `key`) the one the
    film uses. A reject of that very take is lifted: a pick of a rejected take would
    otherwise not be applied."""
    _checked(task, take, key)

    def change(tree: CommentedMap) -> None:
        entry = _task_node(tree, task)
        pick = entry.get("pick")
        if isinstance(pick, CommentedMap):
            pick["take"], pick["key"] = take, key
        else:
            entry.insert(0, "pick", _flow(take=take, key=key))
        mark = _mark_node(entry, take, key, add=False)
        if mark is not None and mark.get("verdict") == "reject":
            del mark["verdict"]

    edit_selection(path, change)


def write_verdict(
    path: Path, task: str, take: int, key: str, verdict: Verdict | None, note: str | None
) -> None:
    """Judge a take: `verdict` None clears it; `note` None leaves the note as it is and
    "" clears it. Rejecting the picked take removes the pick."""
    _checked(task, take, key)
    if verdict is not None and verdict not in VERDICTS:
        raise UsageError(f"a verdict is one of {', '.join(VERDICTS)}, not {verdict!r}")
    if note is not None and not _is_note(note):
        raise UsageError("a note is text of at most 2000 characters (UTF-8)")

    def change(tree: CommentedMap) -> None:
        entry = _task_node(tree, task)
        mark = _mark_node(entry, take, key, add=True)
        assert mark is not None
        if verdict is None:
            mark.pop("verdict", None)
        else:
            mark["verdict"] = verdict
        if note == "":
            mark.pop("note", None)
        elif note is not None:
            mark["note"] = note
        pick = entry.get("pick")
        picked = pick is not None and (pick.get("take"), pick.get("key")) == (take, key)
        if verdict == "reject" and picked:
            del entry["pick"]

    edit_selection(path, change)


def record_takes(path: Path, task: str, key: str, takes: Iterable[int]) -> None:
    """List each of `takes` of the request `key` as made (a bare `{take, key}`), unless
    it is listed already: `storyboard retake` records the takes it adds."""
    numbers = sorted(set(takes))
    for take in numbers:
        _checked(task, take, key)

    def change(tree: CommentedMap) -> None:
        entry = _task_node(tree, task)
        for take in numbers:
            _mark_node(entry, take, key, add=True)

    edit_selection(path, change)


def _is_note(note: object) -> bool:
    if not isinstance(note, str) or len(note) > 2000:
        return False
    try:
        note.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
