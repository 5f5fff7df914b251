"""Packing: fewest valid parts, then most even, never a split shot (pure, no I/O)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from storyboard.compile.packing import TaskShape, pack_shots, task_violations
from storyboard.provider import api


def plain_valid(durations: list[int], lo: int = 3, hi: int = 15):  # type: ignore[no-untyped-def]
    def valid(start: int, end: int) -> bool:
        part = durations[start:end]
        return len(part) <= api.MAX_SHOTS and lo <= sum(part) <= hi

    return valid


def brute_force(durations: list[int], valid) -> tuple[int, int] | None:  # type: ignore[no-untyped-def]
    n = len(durations)
    best = None
    for cuts in itertools.product([False, True], repeat=n - 1):
        bounds = [0] + [i + 1 for i, c in enumerate(cuts) if c] + [n]
        parts = list(itertools.pairwise(bounds))
        if all(valid(a, b) for a, b in parts):
            score = (len(parts), sum(sum(durations[a:b]) ** 2 for a, b in parts))
            best = score if best is None or score < best else best
    return best


def test_seven_seven_two_packs_as_seven_then_nine() -> None:
    d = [7, 7, 2]
    assert pack_shots(d, plain_valid(d)) == [(0, 1), (1, 3)]


def test_even_split_is_preferred_among_fewest_parts() -> None:
    d = [5, 5, 5, 5]  # [5,5,5]+[5] and [5]+[5,5,5] and [5,5]+[5,5]: the last is most even
    assert pack_shots(d, plain_valid(d)) == [(0, 2), (2, 4)]


def test_no_valid_split_returns_none() -> None:
    d = [14, 2]
    assert pack_shots(d, plain_valid(d)) is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=15), min_size=1, max_size=11),
    st.sampled_from([(3, 15), (3, 10)]),
)
def test_packing_is_optimal_against_brute_force(
    durations: list[int], bounds: tuple[int, int]
) -> None:
    valid = plain_valid(durations, *bounds)
    split = pack_shots(durations, valid)
    expected = brute_force(durations, valid)
    if expected is None:
        assert split is None
        return
    assert split is not None
    assert split[0][0] == 0 and split[-1][1] == len(durations)
    assert all(a < b for a, b in split) and all(x[1] == y[0] for x, y in itertools.pairwise(split))
    score = (len(split), sum(sum(durations[a:b]) ** 2 for a, b in split))
    assert score == expected


def test_task_violations_name_their_rules() -> None:
    shape = TaskShape(
        shots=7,
        seconds=16,
        images=3,
        elements=5,
        first_frame=False,
        end_frame=True,
        has_video=False,
    )
    rules = [rule for rule, _ in task_violations(shape)]
    assert rules == ["R5", "R19", "R10", "R10", "R11"]
    video = TaskShape(
        shots=1,
        seconds=12,
        images=2,
        elements=3,
        has_video=True,
        first_frame=True,
        video_role_elements=1,
    )
    assert [r for r, _ in task_violations(video)] == ["R20", "R11", "R12"]
    assert task_violations(TaskShape(shots=6, seconds=15, images=7)) == []


# --- the rules' exact words and bounds, the packer's own limits --------------------------
def test_task_violations_say_what_is_wrong_in_numbers() -> None:
    shape = TaskShape(shots=7, seconds=16, images=3, elements=5, end_frame=True)
    assert task_violations(shape) == [
        ("R5", "7 shots in one task; at most 6"),
        ("R19", "a task lasts 16 s; it must last 3-15 s"),
        ("R10", "an end frame needs a first frame"),
        ("R10", "3 images with an end frame; at most 2 images when an end frame is set"),
        ("R11", "3 images + 5 elements = 8; at most 7 without a reference video"),
    ]
    video = TaskShape(shots=1, seconds=12, images=2, elements=3, has_video=True)
    assert task_violations(video) == [
        ("R20", "a task lasts 12 s; it must last 3-10 s with a reference video"),
        ("R11", "2 images + 3 elements = 5; at most 4 with a reference video"),
    ]
    framed = TaskShape(shots=1, seconds=5, elements=4, first_frame=True)
    assert task_violations(framed) == [("R12", "4 elements with a first frame; at most 3")]


def test_task_lengths_are_bounded_inclusively() -> None:
    def rules(seconds: int, has_video: bool = False) -> list[str]:
        shape = TaskShape(shots=1, seconds=seconds, has_video=has_video)
        return [rule for rule, _ in task_violations(shape)]

    assert [rules(s) for s in (2, 3, 15, 16)] == [["R19"], [], [], ["R19"]]
    assert [rules(s, True) for s in (2, 3, 10, 11)] == [["R20"], [], [], ["R20"]]


def test_the_packer_never_puts_more_than_six_shots_in_a_part() -> None:
    # Even when `valid` would accept any part, R5 is the packer's own bound.
    assert pack_shots([1] * 12, lambda start, end: True) == [(0, 6), (6, 12)]
    # 13 shots: three parts of 4, 4 and 5 (as even as they go), the earliest boundaries.
    assert pack_shots([1] * 13, lambda start, end: True) == [(0, 4), (4, 8), (8, 13)]


def test_equal_splits_prefer_the_earliest_boundary() -> None:
    d = [4, 4, 4]  # [4] [4, 4] and [4, 4] [4]: as few parts, as even; the first wins
    assert pack_shots(d, plain_valid(d, 3, 8)) == [(0, 1), (1, 3)]


def test_nothing_to_pack_and_one_shot() -> None:
    assert pack_shots([], lambda start, end: False) == []
    assert pack_shots([5], plain_valid([5])) == [(0, 1)]
    assert pack_shots([2], plain_valid([2])) is None
