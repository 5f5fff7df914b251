"""The task-shape rules (R10-R12, R20) once: the packer and the request check agree."""

from __future__ import annotations

from typing import Any

import pytest

from storyboard.compile.packing import task_violations
from storyboard.provider.request import validate_request
from storyboard.provider.shape import TaskShape, edits_base, refers_base, shape_violations

FIRST = {"image_url": "https://example.com/f.png", "type": "first_frame"}
END = {"image_url": "https://example.com/e.png", "type": "end_frame"}
IMG = {"image_url": "https://example.com/i.png"}
ELEMENT = {"element_id": 1}
FEATURE = {"video_url": "https://example.com/v.mp4", "refer_type": "feature"}


def payload(images: list[dict[str, str]], elements: int, video: bool, seconds: int) -> Any:
    body: dict[str, Any] = {
        "model": "kirin_v3_omni_video",
        "prompt": "a lighthouse",
        "duration": str(seconds),
        "aspect_ratio": "16:9",
    }
    if images:
        body["image_list"] = images
    if elements:
        body["element_list"] = [ELEMENT] * elements
    if video:
        body["video_list"] = [FEATURE]
    return body


CASES = {
    "end frame alone": ([END], 0, False, 5),
    "end frame with three images": ([FIRST, IMG, END], 0, False, 5),
    "eight references": ([IMG] * 4, 4, False, 5),
    "five references with a video": ([IMG] * 3, 2, True, 5),
    "four elements with a first frame": ([FIRST], 4, False, 5),
    "twelve seconds with a video": ([], 0, True, 12),
    "all at once": ([FIRST, IMG, END], 2, True, 12),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_request_and_packer_state_the_same_violations(
    case: tuple[list[dict[str, str]], int, bool, int],
) -> None:
    images, elements, video, seconds = case
    frames = {i.get("type") for i in images}
    shape = TaskShape(
        shots=1,
        seconds=seconds,
        images=len(images),
        elements=elements,
        first_frame="first_frame" in frames,
        end_frame="end_frame" in frames,
        has_video=video,
    )
    stated = [f"{rule}: {message}" for rule, message in shape_violations(shape)]
    assert stated, "each case breaks at least one rule"
    sent = validate_request(payload(images, elements, video, seconds))
    assert [m for m in sent if m[:4] in ("R10:", "R11:", "R12:", "R20:")] == stated
    assert [f"{r}: {m}" for r, m in task_violations(shape)] == stated


def test_a_base_edit_is_not_held_to_its_duration() -> None:
    shape = TaskShape(shots=1, seconds=None, has_video=True)
    assert shape_violations(shape) == []
    assert edits_base([{"video_url": "u"}]) and refers_base({"video_url": "u"})  # R13 default
    assert not edits_base([FEATURE, "not an item"])
