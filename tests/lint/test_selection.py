"""Lint of the selection file beside a storyboard, and the picks the compiled plan
follows: a stale pick is a warning at its line and is not applied; a pick of a
take that was never made, or of a task that is not there, is an error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from storyboard.errors import EnvironmentProblem
from storyboard.language.selection import selection_path, write_pick, write_verdict
from storyboard.lint.engine import lint_file
from storyboard.lint.rules import Rule
from storyboard.lint.rules.selection import RULES, STORY
from storyboard.pipeline import compile_storyboard
from storyboard.provider.pricing import DEFAULT_PRICES

TWO_SCENES = """\
storyboard: 1
scenes:
  - {id: intro, prompt: a quiet street, duration: 5}
  - {id: return, prompt: she comes back, duration: 5, takes: 3}
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storyboard", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def keys(story: Path) -> dict[str, str]:
    """Each task's cache key now (lint compiles only when there are picks to judge)."""
    return {t.id: t.cache_key for t in compile_storyboard(story).tasks}


@pytest.fixture
def story(tmp_path: Path) -> Path:
    path = tmp_path / "film.yaml"
    path.write_text(TWO_SCENES, encoding="utf-8")
    return path


def _lint_example(tmp_path: Path, takes: str) -> list[tuple[str, int, int, str]]:
    path = tmp_path / "storyboard.yaml"
    path.write_text(STORY, encoding="utf-8")
    key = keys(path)["a"]
    selection_path(path).write_text(takes.replace("{key}", key), encoding="utf-8")
    return [(p.code, p.line, p.column, p.severity) for p in lint_file(path).problems]


@pytest.mark.parametrize("rule", RULES.values(), ids=list(RULES))
def test_each_selection_rule_fires_at_its_place_and_not_when_fixed(
    rule: Rule, tmp_path: Path
) -> None:
    (tmp_path / "fail").mkdir()
    (tmp_path / "ok").mkdir()
    hits = [h for h in _lint_example(tmp_path / "fail", rule.fail) if h[0] == rule.code]
    assert hits, rule.code
    assert hits[0][1:] == (*rule.fail_at, rule.severity)
    assert _lint_example(tmp_path / "ok", rule.ok) == []


def test_a_stale_pick_is_a_warning_at_its_line_and_not_applied(story: Path) -> None:
    takes = selection_path(story)
    write_pick(takes, "return", 2, keys(story)["return"])
    chosen = compile_storyboard(story).choices["return"]
    assert (chosen.take, chosen.picked) == (2, True)
    story.write_text(TWO_SCENES.replace("she comes back", "she comes back at night"))

    result = cli("lint", str(story))
    assert result.returncode == 0, result.stdout + result.stderr  # a warning only
    where = f"{takes}:6:5: SB805 warning: "
    assert where + "stale: made for an earlier version of return; not applied" in result.stdout
    assert "0 error(s), 1 warning(s) in 2 files" in result.stdout  # the selection is linted too
    compilation = compile_storyboard(story)
    chosen = compilation.choices["return"]
    assert (chosen.take, chosen.picked) == (1, False)
    assert [tid for tid, _ in compilation.stale_picks] == ["return"]


def test_a_pick_of_a_take_never_made_is_an_error_at_its_line(story: Path) -> None:
    takes = selection_path(story)
    write_pick(takes, "return", 5, keys(story)["return"])
    result = cli("lint", "--format", "json", str(story))
    assert result.returncode == 1, result.stderr
    problems = json.loads(result.stdout)
    assert [(p["file"], p["line"], p["column"], p["code"]) for p in problems] == [
        (str(takes), 6, 5, "SB804")
    ]
    assert problems[0]["message"] == "return@5 does not exist: return has 3 takes"


def test_a_take_listed_as_made_may_be_picked(story: Path) -> None:
    from storyboard.language.selection import record_takes

    key = keys(story)["return"]
    takes = selection_path(story)
    record_takes(takes, "return", key, [4, 5])  # as `storyboard retake` records them
    write_pick(takes, "return", 5, key)
    assert lint_file(story).problems == []
    assert compile_storyboard(story).choices["return"].take == 5


def test_an_unknown_task_is_an_error_with_a_suggestion(story: Path) -> None:
    takes = selection_path(story)
    write_pick(takes, "retrun", 1, keys(story)["return"])
    result = cli("lint", "--format", "sarif", str(story))
    assert result.returncode == 1, result.stderr
    run = json.loads(result.stdout)["runs"][0]
    (found,) = run["results"]
    place = found["locations"][0]["physicalLocation"]
    assert (place["artifactLocation"]["uri"], place["region"]["startLine"]) == (
        takes.as_posix(),
        5,
    )
    assert found["ruleId"] == "SB803"
    assert "did you mean 'return'?" in found["message"]["text"]
    assert run["tool"]["driver"]["rules"][0]["shortDescription"]["text"]


def test_a_rejected_take_1_makes_the_chosen_take_2(story: Path) -> None:
    key = keys(story)["return"]
    write_verdict(selection_path(story), "return", 1, key, "reject", "the hand melts")
    for compilation in (compile_storyboard(story), compile_storyboard(story, DEFAULT_PRICES)):
        chosen = compilation.choices["return"]
        assert (chosen.take, chosen.picked) == (2, False)
        task = next(t for t in compilation.tasks if t.id == "return")
        assert task.take == 2


def test_a_broken_selection_file_stops_compile_with_its_problem(story: Path) -> None:
    selection_path(story).write_text("version: 1\nversion: 2\n", encoding="utf-8")
    result = cli("compile", str(story))
    assert result.returncode == 1
    assert f"{selection_path(story)}:2:1: SB801" in result.stderr
    assert "Traceback" not in result.stderr


def test_lint_never_raises_when_it_cannot_compile(
    story: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "prices.toml"
    bad.write_text("not_a_price = 1\n", encoding="utf-8")
    monkeypatch.setenv("STORYBOARD_PRICES", str(bad))
    result = lint_file(story)
    assert (result.problems, result.compilation) == ([], None)
    with pytest.raises(EnvironmentProblem, match="unknown keys"):
        compile_storyboard(story)  # the error surfaces where it always has
