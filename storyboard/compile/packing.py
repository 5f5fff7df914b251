"""Splitting a scene's shots into the fewest valid tasks.

`task_violations` states, for one candidate task, every API rule it would
break (R5, R19, and through `storyboard.provider.shape` R10-R12 and R20),
as (rule, message) pairs: lint reports them and the packer uses them to
accept or refuse a part. `pack_shots` is a dynamic programme over shot
boundaries: fewest parts first, then the most even durations (least sum of
squares), never splitting a shot. Greedy packing is wrong here: shots of 7,
7 and 2 s pack as [7] [7, 2], not [7, 7] [2] (a 2 s task is invalid).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from storyboard.provider import api
from storyboard.provider.shape import TaskShape, shape_violations

__all__ = ["TaskShape", "pack_shots", "task_violations"]


def task_violations(shape: TaskShape) -> list[tuple[str, str]]:
    """Every rule this task would break, as (rule id, message).

    R5 and R19 are the packer's to state (the request schema holds them for a
    payload); the rules of a task's shape, R20 and R10-R12, are the API's,
    the same ones the request check states (`provider.shape`)."""
    out: list[tuple[str, str]] = []
    if shape.shots > api.MAX_SHOTS:
        out.append(("R5", f"{shape.shots} shots in one task; at most {api.MAX_SHOTS}"))
    lo, hi = api.MIN_TASK_SECONDS, api.MAX_TASK_SECONDS
    if not shape.has_video and shape.seconds is not None and not lo <= shape.seconds <= hi:
        out.append(("R19", f"a task lasts {shape.seconds} s; it must last {lo}-{hi} s"))
    return out + shape_violations(shape)


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
