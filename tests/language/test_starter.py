"""The starter `storyboard init` writes: clean, and compilable, whatever its title."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyboard.language.starter import starter_storyboard
from storyboard.lint.engine import lint_file
from storyboard.pipeline import compile_storyboard


@pytest.mark.parametrize(
    "title", ["My first film", 'A "quoted" title: with a colon', "# not a comment", "Été 日本"]
)
def test_the_starter_lints_clean_and_compiles(tmp_path: Path, title: str) -> None:
    path = tmp_path / "storyboard.yaml"
    path.write_text(starter_storyboard(title), encoding="utf-8")
    assert lint_file(path).problems == []
    plan = compile_storyboard(path)
    assert plan.story.title == title
    assert [t.id for t in plan.tasks] == ["opening", "walk"]
    assert plan.tasks[1].depends_on == ("opening",)  # the walk starts on the opening's last frame
