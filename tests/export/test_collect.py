"""`storyboard export` for another machine, for chosen takes, and when it must refuse.

`--collect` gathers the clips and the music beside the timeline: the folder
moved elsewhere still renders in melt. A take picked with `storyboard pick`
is the clip in the timeline, its alternates in the metadata with what each
cost. An export never renders: clips missing or stale are refused, as the
stitch refuses them, and without the export extra the message names it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import opentimelineio as otio

from storyboard.mock.server import running_mock
from tests.e2e.conftest import FAST, KEY, user_env
from tests.e2e.test_render import storyboard
from tests.export.conftest import Rendered
from tests.export.test_export import clips_of, melt, picture

STORY = """\
storyboard: 1
title: Two takes
defaults: {mode: std}
scenes:
  - id: arrive
    takes: 2
    prompt: A traveller steps off a night train onto an empty platform
    duration: 3
  - id: depart
    prompt: The train pulls away and its lights fade into the dark
    duration: 3
cut: [arrive, {scene: depart, transition: {type: crossfade, duration: 0.5}}]
"""


def write_story(folder: Path, text: str = STORY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    story = folder / "storyboard.yaml"
    story.write_text(text, encoding="utf-8")
    return story


def test_a_collected_folder_holds_the_whole_project_and_moves(
    rendered: dict[str, Rendered], tmp_path: Path
) -> None:
    film = rendered["lighthouse"]
    folder = tmp_path / "handoff"
    film.export("mlt", "--collect", str(folder))
    clips = sorted(p.name for p in (folder / "clips").iterdir())
    assert clips == sorted(f"{label}.mp4" for label, *_ in film.cut())
    assert [p.name for p in (folder / "music").iterdir()] == ["score.mp3"]
    for name in clips:  # copies: the build's clips are never written through
        copy, built = folder / "clips" / name, film.build / "clips" / name
        assert copy.read_bytes() == built.read_bytes()
        assert copy.stat().st_ino != built.stat().st_ino
    # Moved to "another machine", the folder still renders: every path is relative.
    moved = tmp_path / "elsewhere" / "project"
    shutil.move(str(folder), moved)
    assert abs(melt(moved / "storyboard.mlt", tmp_path / "moved.mp4") - film.frames) <= 1

    linked = tmp_path / "linked"
    path = film.export("otio", "--collect", str(linked), "--link", "-o", str(linked / "cut.otio"))
    assert path == linked / "cut.otio"
    for name in clips:
        assert (linked / "clips" / name).stat().st_ino == (
            film.build / "clips" / name
        ).stat().st_ino
    timeline = otio.adapters.read_from_file(str(path))
    urls = [c.media_reference.target_url for c in clips_of(picture(timeline))]
    assert urls == [f"clips/{label}.mp4" for label, *_ in film.cut()]


def test_the_picked_take_is_the_clip_and_its_alternates_are_kept(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    story = write_story(tmp_path / "film")
    with running_mock(FAST) as mock:
        kirin = ["--backend", "kirin", "--yes", "--base-url", mock.base_url]
        assert storyboard("render", str(story), *kirin, env=env).returncode == 0
        picked = storyboard("pick", str(story), "arrive", "2", env=env)
        assert picked.returncode == 0, picked.stderr
        again = storyboard("render", str(story), *kirin, env=env)
        assert again.returncode == 0, again.stderr
    result = storyboard("export", str(story), env=env)
    assert result.returncode == 0, result.stderr
    timeline = otio.adapters.read_from_file(str(story.parent / "build/storyboard/storyboard.otio"))
    first = clips_of(picture(timeline))[0]
    assert first.name == "arrive@2"
    meta = first.metadata["storyboard"]
    assert meta["take"] == 2 and meta["external_task_id"].endswith("-t2")
    assert meta["provider_task_id"] and meta["cost_usd"] > 0
    alternates = meta["alternate_takes"]
    assert [t["take"] for t in alternates] == [1] and alternates[0]["status"] == "kept"
    assert (story.parent / "build/storyboard" / alternates[0]["clip"]).is_file()
    (marker,) = first.markers
    assert "take 2" in marker.comment and "billed" in marker.comment
    assert KEY not in (story.parent / "build/storyboard/storyboard.otio").read_text()


def test_an_export_never_renders_and_refuses_what_is_not_rendered(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    story = write_story(tmp_path / "film")
    before = storyboard("export", str(story), env=env)
    assert before.returncode == 1 and "Traceback" not in before.stderr
    assert "not rendered" in before.stderr and "storyboard render" in before.stderr
    assert not (story.parent / "build/storyboard/storyboard.otio").exists()

    assert storyboard("render", str(story), env=env).returncode == 0
    story.write_text(STORY.replace("night train", "late train"), encoding="utf-8")
    stale = storyboard("export", str(story), "--format", "edl", env=env)
    assert stale.returncode == 1 and "changed since their clips were rendered" in stale.stderr

    usage = storyboard("export", str(story), "--link", env=env)
    assert usage.returncode == 2 and "--collect" in usage.stderr


def test_without_the_export_extra_the_message_names_it(tmp_path: Path) -> None:
    shim = tmp_path / "shim" / "opentimelineio"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('not installed')\n", encoding="utf-8")
    env = user_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(shim.parent), env.get("PYTHONPATH", "")])
    story = write_story(tmp_path / "film")
    result = storyboard("export", str(story), env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "pip install 'storyboard[export]'" in result.stderr
