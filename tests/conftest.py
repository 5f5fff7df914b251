"""Shared fixtures: small real media made once per session with Pillow and ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from storyboard.media import run_ffmpeg

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def make_png(
    path: Path, size: tuple[int, int], colour: tuple[int, int, int] = (40, 90, 160)
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="PNG")
    return path


def make_video(path: Path, *, size: str = "320x240", seconds: float = 1, fps: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate={fps}:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ]
    )
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small files the rule examples refer to."""
    d = tmp_path_factory.mktemp("media")
    make_png(d / "small.png", (100, 100))
    make_png(d / "big.png", (400, 400))
    make_png(d / "assets" / "keeper.png", (400, 300))
    (d / "notes.txt.png").write_text("not an image\n")
    make_video(d / "short.mp4")
    make_video(d / "clip.mp4", size="1280x720", seconds=3)
    return d
