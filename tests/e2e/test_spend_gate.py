"""`storyboard render`'s spend gate, through the real command line against the mock.

The gate decides before the plan is written: a render it refuses sends nothing
to the provider (the mock counts every request) and leaves no build folder. The
executor has a budget check of its own, but only after plan.json and the journal
are written; so a build folder left behind means the gate was bypassed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from storyboard.mock.server import MockConfig, MockHandle, running_mock
from tests.conftest import EXAMPLES
from tests.e2e.test_render import copy_example, storyboard

KEY = "sk-spend-gate-31f0"
SQUALL = """\
storyboard: 1
title: Squall
assets:
  storm: {video: storm.mp4}
scenes:
  - id: calm
    prompt: "A calm sea at noon"
    duration: 3
  - id: squall
    video: {asset: storm, refer: feature}
    prompt: "The storm in <<<storm>>> rolls in over the sea"
    duration: 5
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KIRIN_", "STORYBOARD_"))}
    return {**base, "STORYBOARD_CACHE": str(tmp_path / "cache"), "KIRIN_API_KEY": KEY}


@pytest.fixture
def mock() -> Iterator[MockHandle]:
    with running_mock(MockConfig(queue_seconds=0.05, process_seconds=0.1)) as handle:
        yield handle


def squall(folder: Path) -> Path:
    """A storyboard whose second task feature-references a local video (no assets_base_url)."""
    folder.mkdir(parents=True)
    shutil.copy(EXAMPLES / "lighthouse" / "assets" / "storm.mp4", folder / "storm.mp4")
    path = folder / "storyboard.yaml"
    path.write_text(SQUALL, encoding="utf-8")
    return path


def test_max_cost_below_the_estimate_stops_at_the_gate(
    tmp_path: Path, env: dict[str, str], mock: MockHandle
) -> None:
    story = copy_example("recipe-square", tmp_path / "recipe")
    build = tmp_path / "build"
    result = storyboard(
        "render", str(story), "--backend", "kirin", "--yes", "--max-cost", "1.00",
        "--base-url", mock.base_url, "--build-dir", str(build), env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "estimated cost: $2.10 for 4 take(s) (list prices; the bill is the provider's usage.cost)",
        "storyboard: $2.10 is over --max-cost $1.00; nothing was sent",
    ]
    assert mock.stats()["total"] == 0
    assert not build.exists()  # refused before the plan was written or the folder locked


def test_a_local_video_is_refused_before_a_provider_elsewhere_is_called(
    tmp_path: Path, env: dict[str, str], mock: MockHandle
) -> None:
    """The mock, addressed as an IPv4-mapped IPv6 address, is not a provider on this
    machine to the gate (so it is the real API's case: videos by URL only, R13), yet
    every request would still reach it and be counted."""
    story = squall(tmp_path / "squall")
    elsewhere = mock.base_url.replace("127.0.0.1", "[::ffff:127.0.0.1]")
    build = tmp_path / "build"
    result = storyboard(
        "render", str(story), "--backend", "kirin", "--yes", "--base-url", elsewhere,
        "--build-dir", str(build), env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "tasks squall use local video files" in result.stderr
    assert "(R13)" in result.stderr and "Nothing was sent." in result.stderr
    assert "Traceback" not in result.stderr
    assert mock.stats()["total"] == 0
    assert not build.exists()


def test_a_local_video_passes_the_gate_when_the_provider_reads_local_files(
    tmp_path: Path, env: dict[str, str], mock: MockHandle
) -> None:
    """At 127.0.0.1 the same storyboard is not refused for R13: the gate goes on to
    the money (here --max-cost 0 stops it, so nothing is rendered)."""
    story = squall(tmp_path / "squall")
    result = storyboard(
        "render", str(story), "--backend", "kirin", "--max-cost", "0",
        "--base-url", mock.base_url, "--build-dir", str(tmp_path / "build"), env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "R13" not in result.stderr
    assert "is over --max-cost $0.00; nothing was sent" in result.stderr
    assert mock.stats()["total"] == 0


def test_the_preview_backend_shows_no_estimate_and_asks_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    story = squall(tmp_path / "squall")
    result = storyboard("render", str(story), "--build-dir", str(tmp_path / "build"), env=env)
    assert result.returncode == 0, result.stderr
    assert "estimated cost" not in result.stderr and "--yes" not in result.stderr
