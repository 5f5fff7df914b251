"""The selection file `<stem>.takes.yaml`: read with positions, written through one
locked round-trip edit that keeps what a person wrote, never written over when bad."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from storyboard.errors import UsageError
from storyboard.language.selection import (
    HEADER,
    Pick,
    load_selection,
    record_takes,
    selection_path,
    write_pick,
    write_verdict,
)
from tests.conftest import run_bounded

K1 = "ab" * 32  # cache keys: 64 hex digits
K2 = "cd" * 32

HAND_WRITTEN = f"""\
# my own words about these takes
version: 1
tasks:
  zebra:   # written first, stays first
    takes:
    - {{take: 1, key: {K1}, note: keep the light}}  # the best light
  apple:
    pick: {{take: 1, key: {K2}}}
"""


def test_a_missing_file_is_an_empty_selection(tmp_path: Path) -> None:
    path = selection_path(tmp_path / "story.yaml")
    assert path.name == "story.takes.yaml"
    selection = load_selection(path)
    assert (selection.path, dict(selection.tasks), selection.problems) == (path, {}, ())


def test_the_first_write_creates_the_file_with_its_header(tmp_path: Path) -> None:
    path = tmp_path / "story.takes.yaml"
    write_pick(path, "return", 2, K1)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(HEADER + "version: 1\n")
    assert "storyboard:" not in text  # the folder walk would take it for a storyboard
    pick = load_selection(path).tasks["return"].pick
    assert pick == Pick(2, K1, pick.pos if pick else Pick(0, "").pos)
    assert pick is not None and (pick.pos.line, pick.pos.column) == (6, 5)


def test_comments_and_order_survive_every_writer(tmp_path: Path) -> None:
    path = tmp_path / "story.takes.yaml"
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    write_pick(path, "zebra", 2, K1)
    write_verdict(path, "zebra", 1, K1, "good", None)
    record_takes(path, "zebra", K1, [1, 2, 3])
    write_verdict(path, "apple", 1, K2, "reject", "the hand melts")
    text = path.read_text(encoding="utf-8")
    for kept in ("# my own words", "# written first, stays first", "# the best light"):
        assert kept in text
    assert text.index("zebra") < text.index("apple")
    selection = load_selection(path)
    zebra = selection.tasks["zebra"]
    assert zebra.pick is not None and zebra.pick.take == 2
    marks = zebra.marks_for(K1)
    assert sorted(marks) == [1, 2, 3]  # take 1 was listed already: not twice
    assert (marks[1].verdict, marks[1].note) == ("good", "keep the light")
    apple = selection.tasks["apple"]
    assert apple.pick is None  # rejecting the picked take removes the pick
    assert apple.marks_for(K2)[1].note == "the hand melts"
    assert selection.choose("apple", K2).take == 2


def test_verdict_none_clears_and_an_empty_note_clears(tmp_path: Path) -> None:
    path = tmp_path / "story.takes.yaml"
    write_verdict(path, "a", 1, K1, "reject", "blurry")
    assert load_selection(path).choose("a", K1).take == 2
    write_verdict(path, "a", 1, K1, None, None)
    mark = load_selection(path).tasks["a"].marks_for(K1)[1]
    assert (mark.verdict, mark.note) == (None, "blurry")
    write_verdict(path, "a", 1, K1, None, "")
    assert load_selection(path).tasks["a"].marks_for(K1)[1].note is None


def test_picking_a_rejected_take_lifts_its_reject(tmp_path: Path) -> None:
    path = tmp_path / "story.takes.yaml"
    write_verdict(path, "a", 2, K1, "reject", None)
    write_pick(path, "a", 2, K1)
    chosen = load_selection(path).choose("a", K1)
    assert (chosen.take, chosen.picked) == (2, True)


def _pick_many(path: str, task: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait()
    for take in range(1, 13):
        write_verdict(Path(path), task, take, K1, "good", f"{task} {take}")


def test_two_processes_writing_at_once_both_land(tmp_path: Path) -> None:
    path = tmp_path / "story.takes.yaml"
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=_pick_many, args=(str(path), t, barrier)) for t in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)  # a hang guard only
        assert worker.exitcode == 0
    selection = load_selection(path)
    assert selection.problems == ()
    for task in "ab":
        assert sorted(selection.tasks[task].marks_for(K1)) == list(range(1, 13))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["story.takes.yaml"]  # no lock file


BAD = [
    ("syntax", "version: 1\ntasks: {\n", (3, 1), "SB801"),
    ("duplicate", "version: 1\ntasks: {}\nversion: 1\n", (3, 1), "SB801"),
    ("storyboard", "storyboard: 1\nversion: 1\n", (1, 1), "SB802"),
    ("short key", "version: 1\ntasks:\n  a:\n    pick: {take: 1, key: abc}\n", (4, 26), "SB802"),
    ("take 0", f"version: 1\ntasks:\n  a:\n    pick: {{take: 0, key: {K1}}}\n", (4, 18), "SB802"),
    (
        "bomb",
        "version: 1\n"
        + "".join(
            f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else "x"] * 9) + "]\n" for i in range(9)
        ),
        (2, 5),  # the anchored list, met again through an alias
        "SB801",
    ),
    ("not a mapping", "- version\n", (1, 1), "SB802"),
    ("binary", "version: 1\x00\n", (1, 1), "SB801"),
]


@pytest.mark.parametrize(("name", "text", "place", "code"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_file_is_positioned_problems_and_never_overwritten(
    tmp_path: Path, name: str, text: str, place: tuple[int, int], code: str
) -> None:
    path = tmp_path / "story.takes.yaml"
    path.write_text(text, encoding="utf-8")
    selection = load_selection(path)
    assert dict(selection.tasks) == {}
    first = selection.problems[0]
    assert (first.file, (first.line, first.column), first.code) == (str(path), place, code)
    with pytest.raises(UsageError, match="was not changed"):
        write_pick(path, "a", 1, K1)
    assert path.read_text(encoding="utf-8") == text


def test_a_fifo_is_a_problem_not_a_hang(tmp_path: Path) -> None:
    story = tmp_path / "story.yaml"
    story.write_text("storyboard: 1\nscenes:\n  - {id: a, prompt: x, duration: 5}\n")
    os.mkfifo(selection_path(story))
    result = run_bounded("lint", str(story), wall_seconds=60)
    assert result.returncode == 1, result.stderr
    assert f"{selection_path(story)}:1:1: SB801" in result.stdout
    assert "FIFO" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("a", 0, K1), "take numbers start at 1"),
        (("a", 1, "abc"), "not a cache key"),
        (("", 1, K1), "a task id"),
    ],
)
def test_writers_refuse_what_the_file_cannot_hold(
    tmp_path: Path, args: tuple[str, int, str], message: str
) -> None:
    path = tmp_path / "story.takes.yaml"
    with pytest.raises(UsageError, match=message):
        write_pick(path, *args)
    with pytest.raises(UsageError, match="a note is text"):
        write_verdict(path, "a", 1, K1, "good", "\udcff")
    assert not path.exists()
