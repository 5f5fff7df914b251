"""The starter `storyboard init` writes: clean, and compilable, whatever its title."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from storyboard.language.schema import STORYBOARD_SCHEMA, schema_id
from storyboard.language.starter import starter_storyboard
from storyboard.lint.engine import lint_file
from storyboard.pipeline import compile_storyboard
from tests.conftest import ROOT


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


def _init(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storyboard", "init", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize("arg", ["films/two/", "films/two/storyboard.yaml", "existing"])
def test_init_into_a_folder_writes_a_storyboard_that_lints_clean_with_no_absolute_path(
    tmp_path: Path, arg: str
) -> None:
    """`init films/two/` (or an existing folder) writes `films/two/storyboard.yaml`,
    not a plain file named `two`; its schema comment is the schema's URL, never a
    path into this machine's virtualenv."""
    (tmp_path / "existing").mkdir()
    result = _init(arg, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / arg.removesuffix("storyboard.yaml").rstrip("/") / "storyboard.yaml"
    assert written.is_file(), sorted(str(p) for p in tmp_path.rglob("*"))
    text = written.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first == f"# yaml-language-server: $schema={schema_id()}"
    assert "file://" not in text and str(ROOT) not in text and sys.prefix not in text
    assert lint_file(written).problems == []
    again = _init(arg, cwd=tmp_path)
    assert again.returncode == 2 and "exists; pass --force" in again.stderr


def test_init_inside_a_project_with_the_schema_points_at_it_relatively(tmp_path: Path) -> None:
    """Where a folder above keeps `schemas/storyboard.schema.json` (as this project's
    examples do), the comment is a relative path to it, which works on any clone."""
    (tmp_path / "schemas").mkdir()
    shutil.copy(STORYBOARD_SCHEMA, tmp_path / "schemas" / STORYBOARD_SCHEMA.name)
    assert _init("examples/new/", cwd=tmp_path).returncode == 0
    written = tmp_path / "examples" / "new" / "storyboard.yaml"
    first = written.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/storyboard.schema.json"
    assert lint_file(written).problems == []
