"""Splitting a scene's shots into the fewest valid tasks.

`task_violations` states, for one candidate task, every API rule it would
break (R5, R7, R10-R12, R19, R20), as (rule, message) pairs: lint reports
them and the packer uses them to accept or refuse a part. `pack_shots` is a
dynamic programme over shot boundaries: fewest parts first, then the most
even durations (least sum of squares), never splitting a shot. Greedy
packing is wrong here: shots of 7, 7 and 2 s pack as [7] [7, 2], not
[7, 7] [2] (a 2 s task is invalid).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from storyboard.provider import api


@dataclass(frozen=True)
class TaskShape:
    """What the API rules need to know about one task."""

    shots: int
    seconds: int
    images: int = 0
    elements: int = 0
    first_frame: bool = False
    end_frame: bool = False
    has_video: bool = False
    video_role_elements: int = 0


def task_violations(shape: TaskShape) -> list[tuple[str, str]]:
    """Every rule this task would break, as (rule id, message)."""
    out: list[tuple[str, str]] = []
    if shape.shots > api.MAX_SHOTS:
        out.append(("R5", f"{shape.shots} shots in one task; at most {api.MAX_SHOTS}"))
    lo, hi = api.MIN_TASK_SECONDS, api.MAX_TASK_SECONDS
    if shape.has_video:
        lo, hi, rule = api.MIN_VIDEO_REF_SECONDS, api.MAX_VIDEO_REF_SECONDS, "R20"
    else:
        rule = "R19"
    if not lo <= shape.seconds <= hi:
        extra = " with a reference video" if shape.has_video else ""
        out.append((rule, f"a task lasts {shape.seconds} s; it must last {lo}-{hi} s{extra}"))
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


def pack_shots(
    durations: Sequence[int], valid: Callable[[int, int], bool]
) -> list[tuple[int, int]] | None:
    """Split shots into consecutive parts [(start, end), ...] (end exclusive).

    `valid(start, end)` says whether shots[start:end] make a valid task.
    Returns the split with the fewest parts, then the least sum of squared
    part durations, then the earliest boundaries; None if no split exists.
    """
    n = len(durations)
    if n == 0:
        return []  # nothing to pack (the schema reports the empty list)
    prefix = [0]
    for d in durations:
        prefix.append(prefix[-1] + d)
    # best[i]: (parts, sum of squares, boundaries) for shots[:i]
    best: list[tuple[int, int, tuple[int, ...]] | None] = [None] * (n + 1)
    best[0] = (0, 0, ())
    for end in range(1, n + 1):
        lo = max(0, end - api.MAX_SHOTS)
        for start in range(lo, end):
            prev = best[start]
            if prev is None or not valid(start, end):
                continue
            seconds = prefix[end] - prefix[start]
            candidate = (prev[0] + 1, prev[1] + seconds * seconds, (*prev[2], start))
            if best[end] is None or candidate < best[end]:  # type: ignore[operator]
                best[end] = candidate
    final = best[n]
    if final is None:
        return None
    starts = list(final[2])
    ends = [*starts[1:], n]
    return list(zip(starts, ends, strict=True))
