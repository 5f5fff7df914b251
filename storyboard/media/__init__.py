"""Media: the one place that runs ffmpeg and the one place that reads media files.

Takes in paths (and opened files) of videos, images and sound; gives out what
they hold (`MediaInfo`, `ImageInfo`, `VideoPackets`, pictures) and ffmpeg runs.
Foreign errors (subprocess, av, PIL, the file system) become `MediaError`s
here, an ffmpeg that cannot be found or started an `EnvironmentProblem`.
Imports nothing of storyboard but `errors` and `scratch`: every stage may use it.

- `process`: finding and running ffmpeg; every child process, and its end.
- `probing`: what a file holds (PyAV), strict decodes of its ends or of all of it.
- `images`: image headers and pixels (Pillow), the pictures of a video.
- `local`: the local file behind a payload's image or video reference.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from storyboard.media.local import local_media
from storyboard.media.process import (
    FFMPEG_ENV,
    SECRET_NAMES,
    awaited,
    child_env,
    ffmpeg_exe,
    run_child,
    run_ffmpeg,
    stop_children,
)

if TYPE_CHECKING:
    from storyboard.media.images import (
        ImageInfo,
        decode_image,
        extract_frame,
        frame_image,
        frames_at,
        image_header,
    )
    from storyboard.media.probing import (
        MediaInfo,
        VideoPackets,
        decode_check_ffmpeg,
        decode_ends,
        probe,
        video_packets,
    )

# PyAV and Pillow take a tenth of a second to import, and most commands never
# read a picture: `images` and `probing` are imported on first use of one of
# their names (PEP 562), not with the package. A module that needs them at
# its own import (`from storyboard.media import probe`) pays then, and only it.
_LAZY = {
    **dict.fromkeys(
        ("ImageInfo", "decode_image", "extract_frame", "frame_image", "frames_at", "image_header"),
        "storyboard.media.images",
    ),
    **dict.fromkeys(
        (
            "MediaInfo",
            "VideoPackets",
            "decode_check_ffmpeg",
            "decode_ends",
            "probe",
            "video_packets",
        ),
        "storyboard.media.probing",
    ),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


__all__ = [
    "FFMPEG_ENV",
    "SECRET_NAMES",
    "ImageInfo",
    "MediaInfo",
    "VideoPackets",
    "awaited",
    "child_env",
    "decode_check_ffmpeg",
    "decode_ends",
    "decode_image",
    "extract_frame",
    "ffmpeg_exe",
    "frame_image",
    "frames_at",
    "image_header",
    "local_media",
    "probe",
    "run_child",
    "run_ffmpeg",
    "stop_children",
    "video_packets",
]
