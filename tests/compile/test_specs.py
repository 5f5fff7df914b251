"""Specs: scenes rendered, packed into tasks, given ids, frames and dependencies.

Pure: each storyboard is YAML text parsed in memory and normalised by
`build_storyboard`; nothing is read from disk, and lint is not involved, so
what is checked is the planner's own arithmetic.
"""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from storyboard.compile.references import FrameSource, ImageSlot
from storyboard.compile.specs import TaskSpec, build_specs, plan_scene, plan_storyboard
from storyboard.language.load import Document
from storyboard.language.model import Storyboard, build_storyboard

HEADER = """\
storyboard: 1
title: Specs
vars: {style: noir}
assets:
  harbour: {image: harbour.png}
  mira: {element: 7}
scenes:
"""


def story(scenes: str) -> Storyboard:
    """A storyboard from YAML text in memory (the scenes under HEADER's assets)."""
    data = YAML(typ="safe").load(HEADER + scenes)
    return build_storyboard(Document(Path("/in-memory/storyboard.yaml"), data))


def by_id(specs: list[TaskSpec]) -> dict[str, TaskSpec]:
    return {spec.id: spec for spec in specs}


WALK = """\
  - id: walk
    shots:
      - {duration: 7, prompt: "{{ harbour }} at dawn, {{ style }}"}
      - {duration: 7, prompt: "<<<mira>>> walks, shot {{ shot.index }} of {{ scene.shots }}"}
      - {duration: 2, prompt: "{{ scene.id }} ends"}
"""


def test_a_scene_too_long_for_one_task_is_packed_seven_then_nine() -> None:
    board = story(WALK)
    plan = plan_scene(board, board.scenes[0])
    assert plan.texts == [
        "<<<harbour>>> at dawn, noir",
        "<<<mira>>> walks, shot 2 of 3",
        "walk ends",
    ]
    assert plan.failures == []
    assert plan.whole == [("R19", "a task lasts 16 s; it must last 3-15 s")]
    assert plan.split == [(0, 1), (1, 3)]


def test_parts_get_numbered_ids_and_continue_from_the_previous_last_frame() -> None:
    board = story(WALK)
    _, specs = plan_storyboard(board)
    first, second = specs
    assert (first.id, first.part, first.parts, first.seconds) == ("walk.1", 1, 2, 7)
    assert (second.id, second.part, second.parts, second.seconds) == ("walk.2", 2, 2, 9)
    assert [s.index for s in second.shots] == [2, 3]
    assert first.resolved.prompts == ["<<<image_1>>> at dawn, noir"]
    assert second.resolved.prompts == ["<<<element_1>>> walks, shot 2 of 3", "walk ends"]
    assert second.resolved.images == [
        ImageSlot(FrameSource(placeholder="${task:walk.1:last_frame}"), "first_frame")
    ]
    assert first.depends_on == [] and second.depends_on == ["walk.1"]
    assert second.shape.first_frame and second.shape.elements == 1 and second.shape.images == 1


def test_without_continuity_the_parts_are_independent() -> None:
    board = story(WALK.replace("  - id: walk\n", "  - id: walk\n    continuity: false\n"))
    _, specs = plan_storyboard(board)
    assert [s.id for s in specs] == ["walk.1", "walk.2"]
    assert specs[1].depends_on == []
    assert specs[1].resolved.images == []


def test_frames_and_videos_from_another_scene_name_its_first_or_last_task() -> None:
    board = story(
        WALK
        + """\
  - id: after
    first_frame: {from: walk}
    end_frame: {from: walk, frame: first}
    prompt: "after, {{ mira }}"
    duration: 5
  - id: echo
    video: {from: walk, refer: feature}
    prompt: "like the walk"
    duration: 5
"""
    )
    specs = by_id(build_specs(board, plan_storyboard(board)[0]))
    after, echo = specs["after"], specs["echo"]
    assert after.resolved.images == [
        ImageSlot(FrameSource(placeholder="${task:walk.2:last_frame}"), "first_frame"),
        ImageSlot(FrameSource(placeholder="${task:walk.1:first_frame}"), "end_frame"),
    ]
    assert after.depends_on == ["walk.2", "walk.1"]
    assert (echo.video_source, echo.depends_on) == ("walk.2", ["walk.2"])
    assert echo.shape.has_video and echo.seconds == 5


def test_a_base_edit_is_one_task_lasting_as_long_as_its_source() -> None:
    board = story(
        WALK
        + """\
  - id: night
    edit: walk
    prompt: "the same walk at night"
"""
    )
    plans, specs = plan_storyboard(board)
    assert plans["night"].split == [(0, 1)] and plans["night"].whole == []
    night = by_id(specs)["night"]
    assert night.seconds is None
    assert (night.video_source, night.depends_on) == ("walk.2", ["walk.2"])


def test_scenes_that_cannot_become_tasks_are_left_out_with_their_reasons() -> None:
    board = story(
        """\
  - id: fine
    prompt: "{{ style }} sea"
    duration: 5
  - id: broken
    prompt: "{{ nope }}"
    duration: 5
  - id: long
    prompt: "one shot too long"
    duration: 16
"""
    )
    plans, specs = plan_storyboard(board)
    assert [s.id for s in specs] == ["fine"]
    broken = plans["broken"]
    assert broken.texts == [None]
    assert [(f.failure.kind, f.failure.needle) for f in broken.failures] == [("undefined", "nope")]
    long = plans["long"]
    assert long.split is None  # a single shot is never split
    assert long.whole == [("R19", "a task lasts 16 s; it must last 3-15 s")]


def test_a_scene_listed_twice_is_planned_once() -> None:
    board = story(
        """\
  - {id: twice, prompt: one, duration: 5}
  - {id: twice, prompt: two, duration: 5}
"""
    )
    plans, specs = plan_storyboard(board)
    assert list(plans) == ["twice"] and plans["twice"].texts == ["one"]
    assert [s.id for s in specs] == ["twice"]
