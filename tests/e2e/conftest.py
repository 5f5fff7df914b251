"""The end-to-end tests' shared fixtures: a user's environment and a fast mock provider."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from storyboard.mock.server import MockConfig, MockHandle, running_mock

KEY = "sk-render-test-5c1d"
FAST = MockConfig(queue_seconds=0.05, process_seconds=0.1, render_workers=2)


def user_env(root: Path) -> dict[str, str]:
    """The environment of a user's shell: a private clip cache under `root`, fast
    polling for the mock, a key for the kirin backend."""
    profile = root / "provider.json"
    profile.write_text(json.dumps({"poll_initial": 0.05, "poll_max": 0.25}), encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KIRIN_", "STORYBOARD_"))}
    return {
        **base,
        "STORYBOARD_CACHE": str(root / "cache"),
        "STORYBOARD_PROVIDER": str(profile),
        "KIRIN_API_KEY": KEY,
    }


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return user_env(tmp_path)


@pytest.fixture
def mock() -> Iterator[MockHandle]:
    with running_mock(FAST) as handle:
        yield handle
