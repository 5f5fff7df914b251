"""The export tests' films: each example rendered once, shared by every test here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from storyboard.media import probe
from tests.e2e.conftest import user_env
from tests.e2e.test_render import EXAMPLE_NAMES, copy_example, run_record, storyboard

FPS = 24


@dataclass(frozen=True)
class Rendered:
    story: Path
    build: Path
    plan: dict[str, Any]
    env: dict[str, str]

    @property
    def frames(self) -> int:
        return int(run_record(self.build)["film"]["frames"])

    def task(self, task_id: str) -> dict[str, Any]:
        return next(t for t in self.plan["tasks"] if t["id"] == task_id)

    def cut(self) -> list[tuple[str, tuple[int, int], str, int]]:
        """(clip label, trim in frames, transition into it, its frames), in cut order."""
        clips = []
        for entry in self.plan["cut"]:
            for i, seg in enumerate(entry["segments"]):
                task = self.task(seg["task"])
                label = task["id"] if task["take"] == 1 else f"{task['id']}@{task['take']}"
                held = probe(self.build / "clips" / f"{label}.mp4").frames or 0
                whole = seg["start"] == 0 and abs(seg["end"] - task["seconds"]) < 1e-6
                trim = (0, held) if whole else (round(seg["start"] * FPS), round(seg["end"] * FPS))
                kind = entry["transition"]["type"] if i == 0 else "cut"
                frames = round(entry["transition"]["duration"] * FPS) if i == 0 else 0
                clips.append((label, trim, kind, frames))
        return clips

    def export(self, fmt: str, *extra: str) -> Path:
        result = storyboard("export", str(self.story), "--format", fmt, *extra, env=self.env)
        assert result.returncode == 0, result.stderr
        return Path(result.stdout.split(":")[0])


@pytest.fixture(scope="package")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Rendered]]:
    """Each example rendered once with the preview backend, in a folder of its own."""
    root = tmp_path_factory.mktemp("export")
    env = user_env(root)
    films = {}
    for name in EXAMPLE_NAMES:
        story = copy_example(name, root / name)
        result = storyboard("render", str(story), env=env)
        assert result.returncode == 0, result.stderr
        build = story.parent / "build" / story.stem
        plan = json.loads((build / "plan.json").read_text(encoding="utf-8"))
        films[name] = Rendered(story, build, plan, env)
    yield films
