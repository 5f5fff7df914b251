"""Takes against the mock provider over HTTP, through the real CLI: every take is a
request of its own and a clip kept for good; a pick is what the film and the
scenes built from it use; nothing paid for is ever overwritten."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from storyboard.language.selection import load_selection, selection_path
from storyboard.media import frame_image, run_ffmpeg
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
    plan = json.loads(
        (story.parent / "build" / story.stem / "plan.json").read_text(encoding="utf-8")
    )
    return next(t for t in plan["tasks"] if t["id"] == task)


def test_takes_are_requests_of_their_own_and_retakes_overwrite_nothing(
    tmp_path: Path, env: dict[str, str], mock: MockHandle
) -> None:
    story = write_story(tmp_path / "film")
    build = story.parent / "build" / story.stem
    rows = json.loads(storyboard("plan", str(story), "--json", env=env).stdout)
    assert [(r["task"], r["takes"]) for r in rows] == [("arrive", 3), ("depart", 1), ("square", 1)]
    one_each = sum(r["take_cost_usd"] for r in rows)
    every_take = sum(r["estimated_cost_usd"] for r in rows)
    assert every_take == pytest.approx(one_each + 2 * rows[0]["take_cost_usd"])
    cap = f"{(one_each + every_take) / 2:.2f}"  # enough for one take of each, not for all
    result = storyboard(*kirin(story, mock), "--max-cost", cap, env=env)
    assert result.returncode == 1 and "nothing was sent" in result.stderr
    assert "for 5 take(s)" in result.stderr and creates(mock) == []

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
    listed = load_selection(selection_path(story)).tasks["arrive"].marks
    assert [m.take for m in listed] == [4]  # so that lint knows arrive@4 exists

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

    result = storyboard(*kirin(story, mock, "retake", "arival"), env=env)
    assert result.returncode == 2 and "retake 'arival': no such task or scene" in result.stderr
    assert "Traceback" not in result.stderr and len(creates(mock)) == count


def frame_at(video: Path, seconds: float, out: Path) -> np.ndarray:
    """The decoded frame at `seconds` (ffmpeg seeks and decodes; a PNG in between)."""
    run_ffmpeg(["-ss", f"{seconds:.3f}", "-i", str(video), "-frames:v", "1", str(out)])
    return np.asarray(Image.open(out).convert("RGB"), float)


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def check_take_in_film(film: Path, build: Path, scratch: Path) -> None:
    """The film's frames in arrive's span (0-3 s) are arrive@2's, not arrive@1's."""
    scratch.mkdir()
    for t in (0.5, 2.0):
        shown = frame_at(film, t, scratch / f"film-{t}.png")
        one = frame_at(build / "clips" / "arrive.mp4", t, scratch / f"one-{t}.png")
        two = frame_at(build / "clips" / "arrive@2.mp4", t, scratch / f"two-{t}.png")
        assert diff(shown, two) < 2.0 < diff(shown, one), (t, diff(shown, two), diff(shown, one))


def test_the_film_and_what_starts_from_a_scene_follow_its_pick(
    tmp_path: Path, env: dict[str, str], mock: MockHandle
) -> None:
    story = write_story(tmp_path / "film")
    build = story.parent / "build" / story.stem
    assert storyboard(*kirin(story, mock), env=env).returncode == 0
    listed = storyboard("takes", str(story), "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["takes"]
    assert [r["address"] for r in rows if r["task"] == "arrive"] == [
        "arrive@1", "arrive@2", "arrive@3"
    ]  # fmt: skip
    assert all(r["status"] == "kept" and r["cost_usd"] > 0 for r in rows)
    old_depart = str(plan_task(story, "depart")["payload"]["external_task_id"])  # type: ignore[index]

    picked = storyboard("pick", str(story), "arrive", "2", env=env)
    assert picked.returncode == 0, picked.stderr
    assert "renders depart" in picked.stdout  # said before anything is sent
    rows = json.loads(storyboard("plan", str(story), "--json", "--backend", "kirin",
                                 "--base-url", mock.base_url, env=env).stdout)  # fmt: skip
    assert {r["task"]: r["cached"] for r in rows} == {
        "arrive": True, "depart": False, "square": True
    }  # fmt: skip

    sent = len(creates(mock))
    stitched = storyboard("stitch", str(story), env=env)  # sends nothing
    assert stitched.returncode == 0, stitched.stderr
    assert "depart were built from another take" in stitched.stderr
    assert len(creates(mock)) == sent
    film = Path(run_record(build)["film"]["path"])
    check_take_in_film(film, build, tmp_path / "stitched")

    result = storyboard(*kirin(story, mock), env=env)
    assert result.returncode == 0, result.stderr
    new = list(mock.state.tasks.values())[sent:]
    depart = str(plan_task(story, "depart")["payload"]["external_task_id"])  # type: ignore[index]
    assert [t.external_task_id for t in new] == [depart] and depart != old_depart

    # depart was sent take 2's last frame, not take 1's
    sent_frame = Image.open(io.BytesIO(base64.b64decode(
        new[0].payload["image_list"][0]["image_url"]))).convert("RGB")  # fmt: skip
    last = {n: np.asarray(frame_image(build / "clips" / f"{n}.mp4", which="last"), float)
            for n in ("arrive", "arrive@2")}  # fmt: skip
    sent_pixels = np.asarray(sent_frame, float)
    assert diff(sent_pixels, last["arrive@2"]) < diff(sent_pixels, last["arrive"])

    # the review page shows that frame as depart's first frame, from arrive@2
    shared = tmp_path / "shared"
    assert storyboard("review", str(story), "--static", str(shared), env=env).returncode == 0
    page = (shared / "index.html").read_text(encoding="utf-8")
    assert "first_frame: last frame of arrive@2" in page
    assert (build / "frames" / "arrive@2.last.jpg").read_bytes() in {
        p.read_bytes() for p in (shared / "media" / "refs").iterdir()
    }

    # the rendered film too: arrive's span is take 2's
    assert run_record(build)["film_takes"]["arrive"] == "arrive@2"
    check_take_in_film(Path(run_record(build)["film"]["path"]), build, tmp_path / "rendered")

    # a pick of a take of square, which nothing depends on: a stitch, no request
    assert storyboard(*kirin(story, mock, "retake", "square"), env=env).returncode == 0
    count = len(creates(mock))
    assert storyboard("pick", str(story), "square@2", env=env).returncode == 0
    assert storyboard(*kirin(story, mock), env=env).returncode == 0
    assert len(creates(mock)) == count
    assert run_record(build)["film_takes"]["square"] == "square@2"

    # The shot is edited: the pick of arrive@2 was for the old request. It is stale.
    story.write_text(STORY.replace("night train", "late train"), encoding="utf-8")
    lint = storyboard("lint", str(story), env=env)
    assert lint.returncode == 0 and "stale" in lint.stdout and "arrive" in lint.stdout
    assert "storyboard.takes.yaml:" in lint.stdout  # at the pick's line
    listed = storyboard("takes", str(story), env=env)
    assert listed.returncode == 0 and "stale" in listed.stderr
    result = storyboard(*kirin(story, mock), env=env)
    assert result.returncode == 0, result.stderr
    assert "stale pick: arrive@2 was made for an earlier version of arrive" in result.stderr
    assert run_record(build)["film_takes"]["arrive"] == "arrive@1"
