"""Every rule fires on its documented failing example, at the documented
line and column, and stays quiet on the fixed one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from storyboard.lint.engine import lint_file
from storyboard.lint.rules import Rule, all_rules

RULES = all_rules()


def _lint(tmp_path: Path, media_dir: Path, text: str, code: str):
    work = tmp_path / "story"
    shutil.copytree(media_dir, work)
    path = work / "storyboard.yaml"
    path.write_text(text, encoding="utf-8")
    return lint_file(path, check_urls=code == "SB507").problems


@pytest.mark.parametrize("rule", RULES.values(), ids=list(RULES))
def test_rule_fires_at_its_place(rule: Rule, tmp_path: Path, media_dir: Path) -> None:
    problems = _lint(tmp_path / "fail", media_dir, rule.fail, rule.code)
    hits = [p for p in problems if p.code == rule.code]
    assert hits, f"{rule.code} did not fire; got {[(p.code, p.message) for p in problems]}"
    assert (hits[0].line, hits[0].column) == rule.fail_at, hits[0]
    assert hits[0].rule == rule.rule or rule.code == "SB304"
    assert hits[0].severity == rule.severity


@pytest.mark.parametrize("rule", RULES.values(), ids=list(RULES))
def test_rule_quiet_on_fixed_example(rule: Rule, tmp_path: Path, media_dir: Path) -> None:
    problems = _lint(tmp_path / "ok", media_dir, rule.ok, rule.code)
    assert [p for p in problems if p.code == rule.code] == []
    assert [p for p in problems if p.is_error] == [], problems


def test_codes_are_unique_and_documented() -> None:
    for code, rule in RULES.items():
        assert code == rule.code
        assert rule.summary
