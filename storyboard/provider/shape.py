"""The rules a task's shape must keep (API.md R10-R12, R20), stated once.

A task's shape is what these rules look at: how many images and elements it
names, whether it has a first or an end frame or a reference video, and how
long it lasts. The packer (`storyboard.compile.packing`) asks them of every
candidate part of a scene, and the request check (`storyboard.provider.request`)
of every payload, so that lint, the compiler and the mock provider refuse
exactly the same tasks with the same words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from storyboard.provider import api


@dataclass(frozen=True)
class TaskShape:
    """What the API rules need to know about one task.

    `seconds` is None when the task's length is not its own to judge: a base
    edit lasts as long as its source (R15), and a duration that is not whole
    seconds is the schema's to report."""

    shots: int
    seconds: int | None
    images: int = 0
    elements: int = 0
    first_frame: bool = False
    end_frame: bool = False
    has_video: bool = False
    video_role_elements: int = 0


def refers_base(item: Mapping[str, Any]) -> bool:
    """Is this `video_list` item a video to edit? R13: `refer_type` defaults to base."""
    return bool(item.get("refer_type", api.DEFAULT_REFER_TYPE) == "base")


def edits_base(videos: Sequence[Any]) -> bool:
    """Does a payload's `video_list` ask for a base edit (R15)? Malformed items are not."""
    return any(isinstance(v, Mapping) and refers_base(v) for v in videos)


def shape_violations(shape: TaskShape) -> list[tuple[str, str]]:
    """Every way this task breaks R20 and R10-R12, as (rule id, message), in that order."""
    out: list[tuple[str, str]] = []
    lo, hi = api.MIN_VIDEO_REF_SECONDS, api.MAX_VIDEO_REF_SECONDS
    if shape.has_video and shape.seconds is not None and not lo <= shape.seconds <= hi:
        out.append(
            (
                "R20",
                f"a task lasts {shape.seconds} s; it must last {lo}-{hi} s with a reference video",
            )
        )
    if shape.end_frame and not shape.first_frame:
        out.append(("R10", "an end frame needs a first frame"))
    if shape.end_frame and shape.images > api.MAX_IMAGES_WITH_END_FRAME:
        out.append(
            (
                "R10",
                f"{shape.images} images with an end frame; at most "
                f"{api.MAX_IMAGES_WITH_END_FRAME} images when an end frame is set",
            )
        )
    limit = api.MAX_REFS_WITH_VIDEO if shape.has_video else api.MAX_REFS_WITHOUT_VIDEO
    refs = shape.images + shape.elements
    if refs > limit:
        extra = "with" if shape.has_video else "without"
        out.append(
            (
                "R11",
                f"{shape.images} images + {shape.elements} elements = {refs}; at most "
                f"{limit} {extra} a reference video",
            )
        )
    if shape.first_frame and shape.elements > api.MAX_ELEMENTS_WITH_FRAME:
        out.append(
            (
                "R12",
                f"{shape.elements} elements with a first frame; at most "
                f"{api.MAX_ELEMENTS_WITH_FRAME}",
            )
        )
    if shape.has_video and shape.video_role_elements:
        out.append(("R12", "video-role subjects cannot be used with a reference video"))
    return out
