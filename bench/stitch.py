"""Stitch speed and sync: the tool next to bare ffmpeg and MoviePy, on the same clips.

Run by hand: `python bench/stitch.py [N ...]` (default: 12 48). MoviePy is not
a project dependency; `pip install moviepy` first to include it (without it
the bench says so and goes on).

For N clips of 5 s (1280x720, 24 fps, H.264/AAC, each with its own tone and
tint) it times, in one run:
- hard cuts: the tool's `stitch()`; the floor, a bare `ffmpeg -f concat` with
  the video copied and the audio re-encoded at the tool's bitrate (the least an
  in-sync hard cut costs); the tool without loudness normalisation, and with
  a full decode of the copied video in verification; MoviePy's
  `concatenate_videoclips` written with the same encoder settings;
- crossfades of 0.5 s: the tool; a bare ffmpeg xfade + acrossfade re-encode
  with the tool's encoder settings;
and measures every output's worst audio offset at a cut (bench/_tones.py).
Copies are the best of RUNS runs, re-encodes of ENCODE_RUNS, MoviePy one run.
The floor and the tool encode the same AAC bitrate (the tool's default, and
128k as well); "no loudness gain" is the tool on the same sound level as the
floor (ffmpeg's AAC encoder speed depends on the level it is given).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _tones import worst_offset

from storyboard.film.stitch import CutClip, StitchOptions, Transition, stitch
from storyboard.media import probe, run_ffmpeg

CLIP_SECONDS = 5
SIZE = "1280x720"
FPS = 24
OVERLAP = 0.5
RUNS = 3  # copies are quick: best of three
ENCODE_RUNS = 2  # re-encodes take long; best of two still filters a busy moment
DEFAULTS = StitchOptions()
TONES = [400.0 + 200.0 * (k % 12) for k in range(48)]  # neighbours differ by 200 Hz


FLOOR = "floor: ffmpeg concat, video copy + AAC"
TOOL = "tool stitch(), hard cuts"
TOOL_LEVEL = "tool, no loudness gain"
TOOL_DECODE = "tool, copied video fully decoded too"
FLOOR_128 = "floor at 128k"
TOOL_128 = "tool at 128k"
MOVIEPY = "MoviePy concatenate_videoclips"
XFADE = "bare ffmpeg xfade+acrossfade encode"
TOOL_XFADE = "tool stitch(), crossfades"


@dataclass
class Row:
    case: str
    seconds: float
    offset: float  # worst |heard cut - expected cut|
    duration: float
    note: str = ""


def make_clips(folder: Path, count: int) -> list[Path]:
    paths = []
    for k in range(count):
        path = folder / f"clip{k:02d}.mp4"
        paths.append(path)
        if path.exists():
            continue
        run_ffmpeg(
            [
                *("-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r={FPS}:d={CLIP_SECONDS}"),
                *("-f", "lavfi", "-i", f"sine=f={TONES[k]}:r=48000:d={CLIP_SECONDS}"),
                *("-vf", f"hue=h={k * 29 % 360}"),
                *("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"),
                *("-c:a", "aac", "-b:a", "128k", "-ac", "2", str(path)),
            ]
        )
    return paths


def timed(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def floor(paths: list[Path], out: Path, bitrate: str = DEFAULTS.audio_bitrate) -> None:
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{p}'\n" for p in paths), encoding="utf-8")
    concat = ["-f", "concat", "-safe", "0", "-i", str(listing)]
    run_ffmpeg([*concat, "-c:v", "copy", "-c:a", "aac", "-b:a", bitrate, str(out)])


def bare_xfade(paths: list[Path], out: Path) -> None:
    inputs = [a for p in paths for a in ("-i", str(p))]
    graph, v, a = [], "0:v", "0:a"
    for k in range(1, len(paths)):
        offset = k * (CLIP_SECONDS - OVERLAP)
        graph.append(f"[{v}][{k}:v]xfade=transition=fade:duration={OVERLAP}:offset={offset}[v{k}]")
        graph.append(f"[{a}][{k}:a]acrossfade=d={OVERLAP}[a{k}]")
        v, a = f"v{k}", f"a{k}"
    video = ["-c:v", "libx264", "-preset", DEFAULTS.preset, "-crf", str(DEFAULTS.crf)]
    audio = ["-c:a", "aac", "-b:a", DEFAULTS.audio_bitrate]
    maps = ["-map", f"[{v}]", "-map", f"[{a}]", "-pix_fmt", "yuv420p", "-movflags", "+faststart"]
    run_ffmpeg([*inputs, "-filter_complex", ";".join(graph), *maps, *video, *audio, str(out)])


def moviepy(paths: list[Path], out: Path) -> None:
    from moviepy import VideoFileClip, concatenate_videoclips

    clips = [VideoFileClip(str(p)) for p in paths]
    try:
        concatenate_videoclips(clips).write_videofile(
            str(out),
            fps=FPS,
            codec="libx264",
            preset=DEFAULTS.preset,
            ffmpeg_params=["-crf", str(DEFAULTS.crf)],
            audio_codec="aac",
            audio_bitrate=DEFAULTS.audio_bitrate,
            audio_fps=48_000,
            threads=os.cpu_count(),
            logger=None,
        )
    finally:
        for c in clips:
            c.close()


def have_moviepy() -> bool:
    try:
        import moviepy  # noqa: F401
    except ImportError:
        return False
    return True


def cut_clips(paths: list[Path], transition: Transition) -> list[CutClip]:
    return [
        CutClip(p, p.stem, None, transition if k else Transition("cut", 0), ())
        for k, p in enumerate(paths)
    ]


def measure(
    rows: list[Row], case: str, fn: Callable[[], object], out: Path, cuts: list[float], runs: int
) -> object:
    seconds, result = timed(fn, runs)
    offset = worst_offset(out, TONES, cuts)
    rows.append(Row(case, seconds, offset, probe(out).video_duration))
    return result


def bench(paths: list[Path], work: Path) -> list[Row]:
    n, rows = len(paths), []
    hard = [float(CLIP_SECONDS * k) for k in range(1, n)]
    # A crossfade's cut is heard in the middle of its overlap.
    soft = [k * (CLIP_SECONDS - OVERLAP) + OVERLAP / 2 for k in range(1, n)]
    cuts = cut_clips(paths, Transition("cut", 0))
    fades = cut_clips(paths, Transition("crossfade", OVERLAP))

    def tool(clips: list[CutClip], out: Path, **options: object) -> Callable[[], object]:
        return lambda: stitch(clips, out, options=StitchOptions(**options))  # type: ignore[arg-type]

    out = work / "floor.mp4"
    measure(rows, FLOOR, lambda: floor(paths, out), out, hard, RUNS)
    out = work / "tool.mp4"
    result = measure(rows, TOOL, tool(cuts, out), out, hard, RUNS)
    rows[-1].note = getattr(result, "method", "")
    out = work / "tool-noloud.mp4"
    measure(rows, TOOL_LEVEL, tool(cuts, out, loudness=None), out, hard, RUNS)
    out = work / "tool-decode.mp4"
    measure(rows, TOOL_DECODE, tool(cuts, out, decode_copied=True), out, hard, RUNS)
    out = work / "floor128.mp4"
    measure(rows, FLOOR_128, lambda: floor(paths, out, "128k"), out, hard, RUNS)
    out = work / "tool128.mp4"
    measure(rows, TOOL_128, tool(cuts, out, audio_bitrate="128k"), out, hard, RUNS)
    out = work / "moviepy.mp4"
    if have_moviepy():
        measure(rows, MOVIEPY, lambda: moviepy(paths, out), out, hard, 1)
    else:
        rows.append(Row("MoviePy: not installed (pip install moviepy)", float("nan"), 0, 0))
    out = work / "xfade.mp4"
    measure(rows, XFADE, lambda: bare_xfade(paths, out), out, soft, ENCODE_RUNS)
    out = work / "tool-xfade.mp4"
    result = measure(rows, TOOL_XFADE, tool(fades, out), out, soft, ENCODE_RUNS)
    rows[-1].note = getattr(result, "method", "")
    return rows


def report(n: int, rows: list[Row]) -> None:
    print(f"\n{n} clips of {CLIP_SECONDS} s, {SIZE}, H.264/AAC")
    print("| what | seconds | worst cut offset (ms) | film (s) |")
    print("|---|---|---|---|")
    for r in rows:
        note = f" ({r.note})" if r.note else ""
        print(f"| {r.case}{note} | {r.seconds:.2f} | {r.offset * 1000:.1f} | {r.duration:.3f} |")
    t = {r.case: r.seconds for r in rows}
    print(f"tool / floor: {t[TOOL] / t[FLOOR]:.2f}x (target <= 1.3)")
    print(f"tool without the loudness gain / floor (same level): {t[TOOL_LEVEL] / t[FLOOR]:.2f}x")
    print(f"tool / floor, both at 128k: {t[TOOL_128] / t[FLOOR_128]:.2f}x")
    print(f"tool crossfades / bare xfade: {t[TOOL_XFADE] / t[XFADE]:.2f}x (target <= 1.3)")
    if MOVIEPY in t:
        print(f"MoviePy / tool: {t[MOVIEPY] / t[TOOL]:.1f}x")


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or [12, 48]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-stitch-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        paths = make_clips(work, max(counts))
        print(f"made {len(paths)} clips in {time.perf_counter() - start:.0f} s")
        for n in counts:
            report(n, bench(paths[:n], work))


if __name__ == "__main__":
    main()
