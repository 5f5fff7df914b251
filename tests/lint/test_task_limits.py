"""Task limits through lint: which rule a too-long or too-short task breaks, and where."""

from __future__ import annotations

from pathlib import Path

from storyboard.lint.engine import lint_file
from storyboard.problems import Problem

VIDEO = "assets: {v: {video: https://example.com/v.mp4}}\n"


def lint(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / "storyboard.yaml"
    path.write_text("storyboard: 1\n" + text, encoding="utf-8")
    return [p for p in lint_file(path).problems if p.is_error]


def seen(problems: list[Problem]) -> list[tuple[int, int, str, str, str]]:
    return [(p.line, p.column, p.code, p.rule, p.message) for p in problems]


def test_a_shot_longer_than_any_task_is_reported_at_its_own_duration(tmp_path: Path) -> None:
    text = (
        "scenes:\n"
        "  - id: a\n"
        "    shots:\n"
        "      - {duration: 4, prompt: x}\n"
        "      - prompt: y\n"
        "        duration: 16\n"
    )
    assert seen(lint(tmp_path, text)) == [
        (7, 19, "SB211", "R19", "no task can hold a 16 s shot (3-15 s)")
    ]


def test_every_such_shot_is_named_and_nothing_at_the_scene(tmp_path: Path) -> None:
    text = "scenes:\n  - id: a\n    shots:\n      - {duration: 18, prompt: x}\n" + (
        "      - {duration: 3, prompt: y}\n      - {duration: 20, prompt: z}\n"
    )
    assert seen(lint(tmp_path, text)) == [
        (5, 20, "SB211", "R19", "no task can hold an 18 s shot (3-15 s)"),
        (7, 20, "SB211", "R19", "no task can hold a 20 s shot (3-15 s)"),
    ]


def test_with_a_reference_video_the_bound_is_r20(tmp_path: Path) -> None:
    text = VIDEO + (
        "scenes:\n"
        "  - id: a\n"
        "    video: {asset: v}\n"
        "    shots:\n"
        "      - {duration: 4, prompt: x}\n"
        "      - {duration: 11, prompt: y}\n"
    )
    assert seen(lint(tmp_path, text)) == [
        (8, 20, "SB212", "R20", "no task can hold an 11 s shot with a reference video (3-10 s)")
    ]


def test_shots_that_fit_a_split_are_not_reported(tmp_path: Path) -> None:
    text = "scenes:\n  - id: a\n    shots:\n" + "      - {duration: 15, prompt: x}\n" * 2
    assert lint(tmp_path, text) == []


def test_a_two_second_scene_breaks_r19(tmp_path: Path) -> None:
    problems = lint(tmp_path, "scenes:\n  - {id: a, prompt: x, duration: 2}\n")
    assert seen(problems) == [
        (3, 34, "SB213", "R19", "a task lasts 2 s; it must last 3-15 s"),
    ]


def notes(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / "storyboard.yaml"
    path.write_text("storyboard: 1\n" + text, encoding="utf-8")
    return [p for p in lint_file(path).problems if p.code == "SB220"]


METHOD = "scenes:\n  - id: method\n    shots:\n" + "".join(
    f"      - {{duration: {d}, prompt: s{i}}}\n" for i, d in enumerate([3, 3, 2, 2, 3, 2, 3])
)


def test_a_split_scene_is_said_at_its_line_as_a_note(tmp_path: Path) -> None:
    (note,) = notes(tmp_path, METHOD)
    assert (note.line, note.column, note.severity, note.rule) == (3, 9, "note", "R5")
    assert note.message == (
        "scene 'method' (7 shots, 18 s) is split into 2 tasks: method.1 (8 s), method.2 (10 s); "
        "each part starts on the last frame of the one before"
    )
    assert not note.is_error and not note.fails(strict=True)


def test_without_continuity_the_note_says_the_parts_are_apart(tmp_path: Path) -> None:
    text = METHOD.replace("    shots:\n", "    continuity: false\n    shots:\n")
    (note,) = notes(tmp_path, text)
    assert note.message.endswith("the parts are rendered apart (continuity: false)")


def test_a_scene_that_fits_one_task_has_no_note(tmp_path: Path) -> None:
    assert notes(tmp_path, "scenes:\n  - {id: a, prompt: x, duration: 15}\n") == []
