"""`storyboard lint` through the real entry point: formats, exit codes, many mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TEN_MISTAKES = """\
storyboard: 1
title: Ten mistakes
vars:
  style: noir
assets:
  keeper: {image: https://example.com/keeper.png}
scenes:
  - id: one
    prompt: "{{ mood }} rain, {{ style }}"
    duration: 5
  - id: two
    prompt: a long take
    duration: 20
  - id: three
    first_frame: kepper
    prompt: y
    duration: 5
  - id: four
    continuty: false
    prompt: z
    duration: 5
  - id: five
    mode: ultra
    prompt: z
    duration: 5
  - id: six
    edit: nowhere
    prompt: night
  - id: seven
    end_frame: keeper
    prompt: z
    duration: 5
  - id: eight
    images: [keeper]
    prompt: "<<<image_3>>> glows"
    duration: 5
  - id: one
    prompt: again
    duration: 5
  - id: ten
    shots:
      - {duration: 14, prompt: a}
      - {duration: 2, prompt: b}
"""
EXPECTED = [
    (9, "SB402"),
    (13, "SB211"),
    (15, "SB301"),
    (19, "SB101"),
    (23, "SB100"),
    (27, "SB303"),
    (30, "SB214"),
    (35, "SB304"),
    (37, "SB203"),
    (41, "SB217"),
]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storyboard", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture
def ten(tmp_path: Path) -> Path:
    path = tmp_path / "ten.yaml"
    path.write_text(TEN_MISTAKES, encoding="utf-8")
    return path


def test_ten_mistakes_give_ten_problems_each_on_its_line(ten: Path) -> None:
    result = run("lint", "--format", "json", str(ten))
    assert result.returncode == 1, result.stderr
    problems = json.loads(result.stdout)
    assert [(p["line"], p["code"]) for p in problems] == EXPECTED
    assert len({p["line"] for p in problems}) == 10
    for p in problems:
        assert set(p) == {"file", "line", "column", "code", "rule", "severity", "message", "hint"}


def test_text_format_is_file_line_col_code_rule_message(ten: Path) -> None:
    result = run("lint", str(ten))
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{ten}:9:")
    assert " SB402 " in first and "'mood' is undefined" in first
    assert f"{ten}:13:15: SB211 [R19] a task lasts 20 s" in result.stdout
    assert "hint: did you mean 'keeper'?" in result.stdout
    assert "hint: did you mean 'continuity'?" in result.stdout
    assert result.stdout.splitlines()[-2:] == [
        "10 error(s), 0 warning(s) in 1 file",
        "look a code up: storyboard explain SB402",  # the first code shown
    ]


def test_github_and_sarif_formats(ten: Path) -> None:
    gh = run("lint", "--format", "github", str(ten))
    lines = gh.stdout.splitlines()
    assert len(lines) == 10 and all(line.startswith("::error file=") for line in lines)
    assert ",line=13,col=15,title=SB211 [R19]::" in lines[1]
    sarif = json.loads(run("lint", "--format", "sarif", str(ten)).stdout)
    results = sarif["runs"][0]["results"]
    assert sarif["version"] == "2.1.0" and len(results) == 10
    region = results[1]["locations"][0]["physicalLocation"]["region"]
    assert (results[1]["ruleId"], region["startLine"]) == ("SB211", 13)
    rule_ids = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {p[1] for p in EXPECTED} == rule_ids


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        "storyboard: 1\nscenes:\n  - {id: a, prompt: x, duration: 5}\n"
        "  - {id: b, prompt: y, duration: 5}\ncut: [a]\n"
    )
    assert run("lint", str(path)).returncode == 0
    strict = run("lint", "--strict", str(path))
    assert strict.returncode == 1 and "SB704" in strict.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("lint", str(tmp_path / "missing.yaml")).returncode == 2
    assert run("lint", "--format", "xml", "x.yaml").returncode == 2
    assert run("lint").returncode == 2


def test_directories_and_globs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "story.yaml").write_text(
        "storyboard: 1\nscenes:\n  - {id: a, prompt: x, duration: 5}\n"
    )
    (tmp_path / "a" / "chars.yaml").write_text("assets: {}\n")  # not a storyboard: skipped
    assert run("lint", str(tmp_path)).returncode == 0
    assert run("lint", str(tmp_path / "*" / "*.yaml")).returncode == 0


def test_schema_command_prints_the_schema() -> None:
    result = run("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["$schema"].endswith("2020-12/schema")


SPLIT = "storyboard: 1\nscenes:\n  - id: method\n    shots:\n" + (
    "      - {duration: 2, prompt: x}\n" * 7
)


@pytest.fixture
def split(tmp_path: Path) -> Path:
    path = tmp_path / "split.yaml"
    path.write_text(SPLIT, encoding="utf-8")
    return path


def test_a_split_scene_is_a_note_in_every_format(split: Path) -> None:
    text = run("lint", str(split))
    assert text.returncode == 0, text.stdout + text.stderr
    said = f"{split}:3:9: SB220 [R5] note: scene 'method' (7 shots, 14 s) is split into 2 tasks"
    assert said in text.stdout
    assert text.stdout.splitlines()[-2:] == [
        "1 file clean, 1 note(s)",
        "look a code up: storyboard explain SB220",
    ]
    (found,) = json.loads(run("lint", "--format", "json", str(split)).stdout)
    assert (found["code"], found["severity"], found["line"]) == ("SB220", "note", 3)
    github = run("lint", "--format", "github", str(split))
    assert github.returncode == 0
    assert github.stdout.startswith(f"::notice file={split},line=3,col=9,title=SB220 [R5]::")
    sarif = json.loads(run("lint", "--format", "sarif", str(split)).stdout)
    assert [r["level"] for r in sarif["runs"][0]["results"]] == ["note"]


def test_a_clean_file_names_no_code_to_look_up(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("storyboard: 1\nscenes:\n  - {id: a, prompt: x, duration: 5}\n")
    assert run("lint", str(path)).stdout.splitlines() == ["1 file clean"]


def test_a_note_does_not_fail_lint_even_with_strict(split: Path) -> None:
    strict = run("lint", "--strict", str(split))
    assert strict.returncode == 0, strict.stdout
