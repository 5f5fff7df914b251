"""Preview rendering speed: animatics of typical tasks next to real time and to a
bare ffmpeg encode of the same length. Run by hand: `python bench/preview.py`.

For each task shape it prints the best of RUNS render times, how many times
faster than real time that is (target: >= 10x at 720p on 2 cores), and the
time of `ffmpeg` encoding a plain colour source of the same size and length
with the same encoder settings (the floor: what encoding alone costs).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from storyboard.animatic.renderer import ENCODE, FPS, render_preview
from storyboard.media import run_ffmpeg
from storyboard.provider import api

RUNS = 3
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LIGHTHOUSE = EXAMPLES / "lighthouse" / "assets" / "lighthouse.jpg"
KEEPER = EXAMPLES / "lighthouse" / "assets" / "keeper.png"
SNEAKER = EXAMPLES / "sneaker-ad" / "assets" / "sneaker.png"
PROMPT = "waves crash against the rocks below, cinematic, 35mm film grain, soft golden-hour light"


def payload(mode: str, aspect: str, durations: list[int], images: list[dict[str, str]]) -> Any:
    body: dict[str, Any] = {"model": api.MODEL, "sound": "off", "mode": mode}
    if len(durations) > 1:
        body.update(
            multi_shot=True,
            shot_type="customize",
            multi_prompt=[
                {"index": i, "prompt": f"shot {i}: <<<image_1>>> {PROMPT}", "duration": str(d)}
                for i, d in enumerate(durations, start=1)
            ],
        )
    else:
        body.update(multi_shot=False, prompt=f"<<<image_1>>> {PROMPT}")
    body["duration"] = str(sum(durations))
    if images:
        body["image_list"] = images
    if not any(i.get("type") == "first_frame" for i in images):
        body["aspect_ratio"] = aspect
    return body


CASES: list[tuple[str, Any]] = [
    ("720p 16:9, 1 shot, 5 s, no picture", payload("std", "16:9", [5], [])),
    (
        "720p 16:9, 3 shots, 10 s, first frame + reference",
        payload(
            "std",
            "16:9",
            [4, 3, 3],
            [{"image_url": str(LIGHTHOUSE), "type": "first_frame"}, {"image_url": str(KEEPER)}],
        ),
    ),
    (
        "720p 16:9, 6 shots, 15 s, reference",
        payload("std", "16:9", [3, 2, 3, 2, 3, 2], [{"image_url": str(KEEPER)}]),
    ),
    (
        "720p 1:1, 2 shots, 8 s, reference",
        payload("std", "1:1", [4, 4], [{"image_url": str(KEEPER)}]),
    ),
    (
        "1080p 9:16, 3 shots, 10 s, reference",
        payload("pro", "9:16", [4, 3, 3], [{"image_url": str(SNEAKER)}]),
    ),
]


def best(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bare_encode(size: tuple[int, int], seconds: int, out: Path) -> None:
    """The same encoder settings on a plain colour source: the cost of encoding alone."""
    w, h = size
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", f"color=c=0x303050:s={w}x{h}:r={FPS}:d={seconds}",
            "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo",
            "-t", str(seconds),
            "-c:v", ENCODE["vcodec"], "-preset", ENCODE["preset"], "-crf", str(ENCODE["crf"]),
            "-pix_fmt", "yuv420p", "-threads", str(ENCODE["threads"]),
            "-c:a", "aac", "-b:a", ENCODE["audio_bitrate"], str(out),
        ]
    )  # fmt: skip


def main() -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(f"{'task':<52} {'clip':>6} {'render':>8} {'x real time':>12} {'bare encode':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, body in CASES:
            out = work / "clip.mp4"
            info = render_preview(body, out, label="bench", resolve_media=Path)
            seconds = int(body["duration"])
            render = best(
                lambda b=body, o=out: render_preview(b, o, label="bench", resolve_media=Path)
            )
            floor = best(
                lambda i=info, s=seconds: bare_encode((i.width, i.height), s, work / "b.mp4")
            )
            print(
                f"{name:<52} {seconds:>5}s {render:>7.3f}s {seconds / render:>11.1f}x "
                f"{floor:>11.3f}s"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
