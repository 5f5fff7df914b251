"""docs/rules.md is what the rule registry generates, and `storyboard explain CODE`
prints the same rule, with the message lint really prints for its failing example."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from storyboard.lint import reference
from tests.conftest import ROOT

RULES_PAGE = ROOT / "docs" / "rules.md"


@pytest.fixture(scope="module")
def page() -> str:
    return reference.markdown_page()


def explain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storyboard", "explain", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_docs_rules_md_is_what_the_registry_generates(page: str) -> None:
    on_disk = RULES_PAGE.read_text(encoding="utf-8") if RULES_PAGE.exists() else ""
    assert on_disk == page, f"docs/rules.md is out of date; regenerate it: {reference.REGENERATE}"


def test_the_page_has_every_code_with_what_lint_prints_at_its_place(page: str) -> None:
    sections = dict(re.findall(r"^## (SB\d+)\n(.*?)(?=^## |\Z)", page, re.S | re.M))
    assert list(sections) == list(reference.registry())
    for code, rule in reference.registry().items():
        line, column = rule.fail_at
        said = f":{line}:{column}: {code}" + (f" [{rule.rule}]" if rule.rule else "")
        assert said in sections[code], (code, sections[code])
        assert "lint does not raise it" not in sections[code]
        assert rule.summary in sections[code]


def test_explain_sb217_prints_the_rule_both_examples_and_the_lint_message() -> None:
    rule = reference.registry()["SB217"]
    result = explain("sb217")  # codes are case-insensitive
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"SB217: {rule.summary}\n")
    assert "API rule: R7 · severity: error" in out
    assert "Fails, at line 4, column 5 (storyboard.yaml):" in out
    assert "          - {duration: 14, prompt: x}" in out  # the failing example
    assert "          - {duration: 12, prompt: x}" in out  # the passing one
    assert "storyboard.yaml:4:5: SB217 [R7] scene 'a' (2 shots: 14, 2 s) cannot be split" in out
    assert out.index("Fails") < out.index("storyboard lint prints") < out.index("Passes")


def test_explain_as_markdown_is_the_rule_s_section_of_the_page(page: str) -> None:
    result = explain("SB805", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("## SB805\n")
    assert result.stdout.strip() in page
    assert "storyboard.takes.yaml:4:5: SB805 warning: stale" in result.stdout


def test_explain_an_unknown_code_says_so_with_the_nearest_code() -> None:
    result = explain("SB21x")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "no such rule 'SB21x'; did you mean 'SB21" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [(), ("--list",)])
def test_explain_lists_every_code_with_its_summary(args: tuple[str, ...]) -> None:
    result = explain(*args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rules = list(reference.registry().values())
    assert len(lines) == len(rules)
    for line, rule in zip(lines, rules, strict=True):
        assert line.startswith(rule.code) and line.endswith(rule.summary), line
