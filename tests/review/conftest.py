"""A real build to review, made once: `storyboard init`'s starter rendered with the
preview backend through the real CLI, and a second take of its first scene put
on the cache shelf (a red clip, so the two takes differ at a glance)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from storyboard.cli import main
from tests.conftest import ROOT

STORY = "sb.yaml"
Run = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(cache: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KIRIN_", "STORYBOARD_"))}
    return {**base, "STORYBOARD_CACHE": str(cache), "PYTHONPATH": str(ROOT)}


def storyboard_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storyboard", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def storyboard_here(*args: str, env: dict[str, str], cwd: Path) -> Result:
    """The real command line in this process (click's runner): the same `main`,
    without the second of imports a new interpreter pays for each call."""
    runner = CliRunner(env={k: env[k] for k in ("STORYBOARD_CACHE",)})
    with contextlib.chdir(cwd):
        return runner.invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the folder with sb.yaml and its build, the cache) after one render and one
    retake of `opening` (its take 2), all through the real command line."""
    folder = tmp_path_factory.mktemp("reviewed")
    cache = folder / "cache"
    env = cli_env(cache)
    for args in (("init", STORY), ("render", STORY), ("retake", STORY, "opening")):
        done = storyboard_cli(*args, env=env, cwd=folder)
        assert done.returncode == 0, done.stderr
    return folder, cache


@pytest.fixture
def workdir(rendered: tuple[Path, Path], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the reviewed folder of this test's own (its selection file is its
    own), sharing the cache; and the CLI's environment."""
    folder, cache = rendered
    copy = tmp_path / "story"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("cache", "red.mp4"))
    return copy, cli_env(cache)
