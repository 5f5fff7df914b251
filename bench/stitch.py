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
Fast cases are the best of RUNS runs, re-encodes a single run.
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

from storyboard.media import probe, run_ffmpeg
from storyboard.stitch import CutClip, StitchOptions, Transition, stitch

CLIP_SECONDS = 5
SIZE = "1280x720"
FPS = 24
OVERLAP = 0.5
RUNS = 3
DEFAULTS = StitchOptions()
TONES = [400.0 + 200.0 * (k % 12) for k in range(48)]  # neighbours differ by 200 Hz


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


def floor(paths: list[Path], out: Path) -> None:
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{p}'\n" for p in paths), encoding="utf-8")
    concat = ["-f", "concat", "-safe", "0", "-i", str(listing)]
    run_ffmpeg([*concat, "-c:v", "copy", "-c:a", "aac", "-b:a", DEFAULTS.audio_bitrate, str(out)])


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
    measure(
        rows, "floor: ffmpeg concat, video copy + AAC", lambda: floor(paths, out), out, hard, RUNS
    )
    out = work / "tool.mp4"
    result = measure(rows, "tool stitch(), hard cuts", tool(cuts, out), out, hard, RUNS)
    rows[-1].note = getattr(result, "method", "")
    out = work / "tool-noloud.mp4"
    measure(rows, "tool, no loudness pass", tool(cuts, out, loudness=None), out, hard, RUNS)
    out = work / "tool-decode.mp4"
    case = "tool, copied video fully decoded too"
    measure(rows, case, tool(cuts, out, decode_copied=True), out, hard, RUNS)
    out = work / "moviepy.mp4"
    if have_moviepy():
        measure(rows, "MoviePy concatenate_videoclips", lambda: moviepy(paths, out), out, hard, 1)
    else:
        rows.append(Row("MoviePy: not installed (pip install moviepy)", float("nan"), 0, 0))
    out = work / "xfade.mp4"
    measure(
        rows, "bare ffmpeg xfade+acrossfade encode", lambda: bare_xfade(paths, out), out, soft, 1
    )
    out = work / "tool-xfade.mp4"
    result = measure(rows, "tool stitch(), crossfades", tool(fades, out), out, soft, 1)
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
    tool, base = t["tool stitch(), hard cuts"], t["floor: ffmpeg concat, video copy + AAC"]
    xfade, bare = t["tool stitch(), crossfades"], t["bare ffmpeg xfade+acrossfade encode"]
    print(f"tool / floor: {tool / base:.2f}x (target <= 1.3)")
    print(f"tool crossfades / bare xfade: {xfade / bare:.2f}x (target <= 1.3)")
    if "MoviePy concatenate_videoclips" in t:
        print(f"MoviePy / tool: {t['MoviePy concatenate_videoclips'] / tool:.1f}x")


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
