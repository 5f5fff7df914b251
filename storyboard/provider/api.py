"""The limits and vocabulary of the kirin_v3_omni_video API (shared/API.md), once.

Every number here carries the rule id that fixes it; lint rules, the
compiler, the request schema, the mock provider and tests import them from
here instead of repeating them.
"""

from __future__ import annotations

import re
from typing import Final

MODEL: Final = "kirin_v3_omni_video"  # R1

SHOT_TYPE: Final = "customize"  # R3
MAX_SHOTS: Final = 6  # R5
MAX_PROMPT_CHARS: Final = 2500  # R4
MAX_SHOT_PROMPT_CHARS: Final = 512  # R6
MIN_SHOT_SECONDS: Final = 1  # R7

MIN_TASK_SECONDS: Final = 3  # R19
MAX_TASK_SECONDS: Final = 15  # R19
DEFAULT_TASK_SECONDS: Final = 5  # R19 (never relied on: we always send a duration)
MIN_VIDEO_REF_SECONDS: Final = 3  # R20
MAX_VIDEO_REF_SECONDS: Final = 10  # R20

FRAME_TYPES: Final = ("first_frame", "end_frame")  # R10
MAX_IMAGES_WITH_END_FRAME: Final = 2  # R10: with more than 2 images, no end frame
MAX_REFS_WITH_VIDEO: Final = 4  # R11
MAX_REFS_WITHOUT_VIDEO: Final = 7  # R11
MAX_ELEMENTS_WITH_FRAME: Final = 3  # R12
MAX_VIDEOS: Final = 1  # R13
REFER_TYPES: Final = ("feature", "base")  # R13
DEFAULT_REFER_TYPE: Final = "base"  # R13: an item without refer_type is a video to edit

IMAGE_FORMATS: Final = ("JPEG", "PNG")  # R9 (read from content)
IMAGE_EXTENSIONS: Final = (".jpg", ".jpeg", ".png")  # R9
MAX_IMAGE_BYTES: Final = 10 * 2**20  # R9
MIN_IMAGE_SIDE: Final = 300  # R9
MAX_IMAGE_ASPECT: Final = 2.5  # R9, inclusive both ways (1:2.5 .. 2.5:1)

VIDEO_EXTENSIONS: Final = (".mp4", ".mov")  # R14
MIN_VIDEO_SECONDS: Final = 3  # R14
MIN_VIDEO_SIDE: Final = 720  # R14
MAX_VIDEO_SIDE: Final = 2160  # R14
MIN_VIDEO_FPS: Final = 24  # R14
MAX_VIDEO_FPS: Final = 60  # R14
MAX_VIDEO_BYTES: Final = 200 * 2**20  # R14
OUTPUT_FPS: Final = 24  # R14

SOUND_VALUES: Final = ("on", "off")  # R16
MODES: Final = ("std", "pro")  # R17
DEFAULT_MODE: Final = "pro"  # R17: what the API renders a payload without `mode` in
ASPECT_RATIOS: Final = ("16:9", "9:16", "1:1")  # R18

# R17: output resolution by mode, as (width, height) of the 16:9 frame.
MODE_HEIGHT: Final = {"std": 720, "pro": 1080}

# Error codes (API.md "Error codes").
E1_RESOURCE_INSUFFICIENT: Final = "006001094"
E2_TASK_RESPONSE_ERROR: Final = "006001095"
E3_TASK_CREATION_ERROR: Final = "006001099"

# R4: indexed reference tokens the API understands.
INDEXED_TOKEN: Final = re.compile(r"<<<(image|element|video)_(\d+)>>>")


def frame_size(mode: str, aspect_ratio: str) -> tuple[int, int]:
    """Output (width, height) for a mode (R17) and aspect ratio (R18)."""
    short = MODE_HEIGHT[mode]
    long_side = short * 16 // 9
    return {
        "16:9": (long_side, short),
        "9:16": (short, long_side),
        "1:1": (short, short),
    }[aspect_ratio]
