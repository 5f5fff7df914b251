"""Takes against the mock provider over HTTP, through the real CLI: every take is a
request of its own and a clip kept for good; a pick is what the film and the
scenes built from it use; nothing paid for is ever overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from storyboard.media import frame_image
from storyboard.mock.server import MockHandle
from tests.e2e.test_render import run_record, storyboard

STORY = """\
storyboard: 1
title: Takes
defaults: {mode: std}
scenes:
  - id: arrive
    takes: 3
    prompt: A traveller steps off a night train onto an empty platform
    duration: 3
  - id: depart
    first_frame: {from: arrive}
    prompt: The train pulls away and its lights fade into the dark
    duration: 3
  - id: square
    prompt: A quiet town square at dawn, a fountain, pigeons
    duration: 3
cut: [arrive, depart, square]
"""


def write_story(folder: Path, text: str = STORY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    story = folder / "storyboard.yaml"
    story.write_text(text, encoding="utf-8")
    return story


def kirin(story: Path, mock: MockHandle, command: str = "render", *extra: str) -> list[str]:
    return [command, str(story), *extra, "--backend", "kirin", "--yes", "--base-url", mock.base_url]


def creates(mock: MockHandle) -> list[str]:
    """The external ids of every task the mock was asked to create, in order."""
    return [t.external_task_id or "" for t in mock.state.tasks.values()]


def shelf(tmp_path: Path) -> list[str]:
    root = tmp_path / "cache" / "clips"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def plan_task(story: Path, task: str) -> dict[str, object]:
    plan = json.loads((story.parent / "build" / "plan.json").read_text(encoding="utf-8"))
    return next(t for t in plan["tasks"] if t["id"] == task)


def test_takes_are_requests_of_their_own_and_retakes_overwrite_nothing(
    tmp_path: Path, env: dict[str, str], mock: MockHandle
) -> None:
    story = write_story(tmp_path / "film")
    build = story.parent / "build"
    result = storyboard(*kirin(story, mock), env=env)
    assert result.returncode == 0, result.stderr
    arrive = str(plan_task(story, "arrive")["payload"]["external_task_id"])  # type: ignore[index]
    sent = creates(mock)
    assert sorted(sent) == sorted(
        [arrive, f"{arrive}-t2", f"{arrive}-t3", *(
            str(plan_task(story, t)["payload"]["external_task_id"])  # type: ignore[index]
            for t in ("depart", "square")
        )]
    )  # fmt: skip
    record = run_record(build)
    assert [k for k in record["tasks"] if k.startswith("arrive")] == [
        "arrive",
        "arrive@2",
        "arrive@3",
    ]
    assert record["film_takes"]["arrive"] == "arrive@1"
    assert record["totals"]["takes"] == 5 and record["totals"]["rendered"] == 5
    billed = sum(t["cost_usd"] for t in record["tasks"].values())
    assert record["totals"]["billed_usd"] == pytest.approx(billed) and billed > 0
    clips = {n: frame_image(build / "clips" / f"{n}.mp4", which="first") for n in
             ("arrive", "arrive@2", "arrive@3")}  # fmt: skip
    assert all(  # three generations: three different clips (the mock's differ in colour)
        np.abs(np.asarray(clips[a], float) - np.asarray(clips[b], float)).mean() > 0.5
        for a, b in (("arrive", "arrive@2"), ("arrive@2", "arrive@3"), ("arrive", "arrive@3"))
    )
    before = shelf(tmp_path)
    assert sum(1 for p in before if p.endswith(".mp4")) == 5

    result = storyboard(*kirin(story, mock, "retake", "arrive"), env=env)
    assert result.returncode == 0, result.stderr
    assert creates(mock)[len(sent) :] == [f"{arrive}-t4"]
    assert "new take arrive@4" in result.stdout
    after = shelf(tmp_path)
    assert set(before) < set(after) and len(after) - len(before) == 3  # .mp4, .json, .lock
    assert run_record(build)["film"] is None  # retake leaves the film alone

    result = storyboard(*kirin(story, mock, "render", "--force", "arrive"), env=env)
    assert result.returncode == 0, result.stderr
    assert "makes a new take of arrive" in result.stderr
    assert creates(mock)[len(sent) + 1 :] == [f"{arrive}-t5"]
    assert set(after) < set(shelf(tmp_path))
    assert run_record(build)["film_takes"]["arrive"] == "arrive@1"

    count = len(creates(mock))
    result = storyboard(*kirin(story, mock), env=env)
    assert result.returncode == 0, result.stderr
    assert len(creates(mock)) == count  # an unchanged render sends nothing
