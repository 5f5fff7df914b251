"""Fast iteration: what an author waits for between an edit and a look.

Run by hand: `python bench/iterate.py [a] [b] [c]` (default: all three). In one run:
- (a) an unchanged `storyboard render` of each example (preview backend, clips
  and film already made) next to `storyboard lint` of the same file, both
  through the real CLI, best of RUNS; and the same unchanged render against
  the mock provider (kirin client), counting the requests it receives. The
  film's inode and modification time are checked unchanged.
- (b) 48 clips of 5 s made like preview clips (1280x720, x264 ultrafast crf 23,
  a keyframe a second, a tone each) cut with 3 crossfades of 0.5 s and 1 trim: the tool's
  `stitch()` (smart: only what the transitions and the trim touch is
  re-encoded), the tool with smart render off (its full filter graph), a bare
  ffmpeg filter graph of the same cut (trim, concat, xfade + acrossfade with the
  tool's encoder settings: what a full re-encode costs), and the hard-cut floor
  (concat demuxer, video copied, AAC). Each film's worst cut offset is measured
  from its tones (bench/_tones.py) and the smart film is decoded end to end.
- (c) 12 silent clips of 5 s, hard cuts: the tool's `stitch()` and the real
  `storyboard stitch` (its film record removed first, so that it cuts) next to
  a bare in-sync concat (concat demuxer with each clip's exact duration, video
  copied, a silent AAC track of the film's length).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from _tones import worst_offset

from storyboard.film import artifact
from storyboard.film.stitch import CutClip, StitchOptions, Transition, stitch
from storyboard.media import decode_check_ffmpeg, probe, run_ffmpeg
from storyboard.mock.server import MockConfig, running_mock

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
RUNS = 5  # CLI runs are short: best of five
ENCODE_RUNS = 2
SIZE = "1280x720"
FPS = 24
CLIP_SECONDS = 5
OVERLAP = 0.5
CROSSFADES = (12, 24, 36)  # clips entered by a crossfade
TRIMMED, TRIM = 30, (0.5, 4.5)
TONES = [400.0 + 200.0 * (k % 12) for k in range(48)]
DEFAULTS = StitchOptions()
# x264 as the preview renderer encodes (storyboard.animatic.renderer.ENCODE): a keyframe a second.
PREVIEW_X264 = [
    *("-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-g", "24", "-pix_fmt", "yuv420p")
]


def best(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real CLI as installed: with Python's bytecode cache (some shells turn it off)."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-m", "storyboard", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode:
        raise SystemExit(f"storyboard {' '.join(args)} failed:\n{done.stderr}")
    return done


def stat_of(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


# --- (a) unchanged render vs lint ---------------------------------------------------


def unchanged_renders(work: Path) -> None:
    print("\n(a) unchanged render vs lint, real CLI, best of", RUNS)
    print("| example | lint s | unchanged render s | ratio | kirin+mock render s | requests |")
    print("|---|---|---|---|---|---|")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KIRIN_", "STORYBOARD_"))}
    for example in sorted(p for p in EXAMPLES.iterdir() if (p / "storyboard.yaml").is_file()):
        folder = work / example.name
        shutil.copytree(example, folder, ignore=shutil.ignore_patterns("build"))
        story = str(folder / "storyboard.yaml")
        env = {**base, "STORYBOARD_CACHE": str(work / "cache")}
        cli("render", story, env=env)
        film = Path(json.loads((folder / "build" / "run.json").read_text())["film"]["path"])
        before = stat_of(film)
        lint = best(partial(cli, "lint", story, env=env), RUNS)
        render = best(partial(cli, "render", story, env=env), RUNS)
        assert stat_of(film) == before, "the film was written again"
        with running_mock(MockConfig(queue_seconds=0.05, process_seconds=0.1)) as mock:
            kenv = {**env, "KIRIN_API_KEY": "sk-bench", "KIRIN_BASE_URL": mock.base_url}
            kirin = ["render", story, "--backend", "kirin", "--yes", "--build-dir"]
            kbuild = str(folder / "build-kirin")
            cli(*kirin, kbuild, env=kenv)
            sent = mock.stats()["create"]
            remote = best(partial(cli, *kirin, kbuild, env=kenv), RUNS)
            requests = mock.stats()["create"] - sent
        print(
            f"| {example.name} | {lint:.3f} | {render:.3f} | {render / lint:.2f} "
            f"| {remote:.3f} | {requests} creates |"
        )


# --- (b) 48 clips, 3 crossfades, 1 trim -----------------------------------------------


def make_clip(path: Path, k: int, *, sound: bool) -> Path:
    if not path.exists():
        args = ["-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r={FPS}:d={CLIP_SECONDS}"]
        if sound:
            args += ["-f", "lavfi", "-i", f"sine=f={TONES[k]}:r=48000:d={CLIP_SECONDS}"]
            args += ["-c:a", "aac", "-b:a", "96k", "-ac", "2"]
        run_ffmpeg([*args, "-vf", f"hue=h={k * 29 % 360}", *PREVIEW_X264, str(path)])
    return path


def the_cut(paths: list[Path]) -> list[CutClip]:
    clips = []
    for k, path in enumerate(paths):
        kind = Transition("crossfade", OVERLAP) if k in CROSSFADES else Transition("cut", 0)
        clips.append(CutClip(path, path.stem, TRIM if k == TRIMMED else None, kind, ()))
    return clips


def heard_cuts(clips: list[CutClip]) -> list[float]:
    """Where each cut is heard: the clip boundary, or the middle of a crossfade."""
    cuts, at = [], 0.0
    for clip in clips:
        length = (clip.trim[1] - clip.trim[0]) if clip.trim else CLIP_SECONDS
        overlap = clip.transition.duration if clip.transition.type == "crossfade" else 0.0
        if at:
            cuts.append(at - overlap / 2)
        at += length - overlap
    return cuts


def bare_graph(clips: list[CutClip], out: Path) -> None:
    """The same cut as one bare ffmpeg filter graph with the tool's encoder settings."""
    inputs = [a for c in clips for a in ("-i", str(c.path))]
    graph, runs, run = [], [], []
    for k, clip in enumerate(clips):
        v, a = f"{k}:v", f"{k}:a"
        if clip.trim:
            lo, hi = clip.trim
            graph.append(f"[{v}]trim={lo}:{hi},setpts=PTS-STARTPTS[tv{k}]")
            graph.append(f"[{a}]atrim={lo}:{hi},asetpts=PTS-STARTPTS[ta{k}]")
            v, a = f"tv{k}", f"ta{k}"
        if k and clip.transition.type == "crossfade":
            runs.append(run)
            run = []
        run.append((v, a, clip))
    runs.append(run)
    joined, length = None, 0.0
    for r, members in enumerate(runs):
        pads = "".join(f"[{v}][{a}]" for v, a, _ in members)
        graph.append(f"{pads}concat=n={len(members)}:v=1:a=1[rv{r}][ra{r}]")
        seconds = sum((c.trim[1] - c.trim[0]) if c.trim else CLIP_SECONDS for _, _, c in members)
        if joined is None:
            joined, length = (f"rv{r}", f"ra{r}"), seconds
            continue
        offset = length - OVERLAP
        graph.append(
            f"[{joined[0]}][rv{r}]xfade=transition=fade:duration={OVERLAP}:offset={offset}[xv{r}]"
        )
        graph.append(f"[{joined[1]}][ra{r}]acrossfade=d={OVERLAP}[xa{r}]")
        joined, length = (f"xv{r}", f"xa{r}"), length + seconds - OVERLAP
    assert joined is not None
    video = ["-c:v", "libx264", "-preset", DEFAULTS.preset, "-crf", str(DEFAULTS.crf)]
    maps = ["-map", f"[{joined[0]}]", "-map", f"[{joined[1]}]", "-pix_fmt", "yuv420p"]
    audio = ["-c:a", "aac", "-b:a", DEFAULTS.audio_bitrate, "-movflags", "+faststart"]
    run_ffmpeg([*inputs, "-filter_complex", ";".join(graph), *maps, *video, *audio, str(out)])


def floor(paths: list[Path], out: Path) -> None:
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{p}'\n" for p in paths), encoding="utf-8")
    concat = ["-f", "concat", "-safe", "0", "-i", str(listing)]
    run_ffmpeg([*concat, "-c:v", "copy", "-c:a", "aac", "-b:a", DEFAULTS.audio_bitrate, str(out)])


def smart_cut(work: Path) -> None:
    paths = [make_clip(work / f"tone{k:02d}.mp4", k, sound=True) for k in range(48)]
    clips = the_cut(paths)
    cuts = heard_cuts(clips)
    rows: list[tuple[str, float, Path, str]] = []
    smart_out, full_out = work / "smart.mp4", work / "full.mp4"
    result: list[object] = []

    def tool(out: Path, options: StitchOptions, memo: Path | None) -> Callable[[], object]:
        return lambda: result.append(stitch(clips, out, options=options, memo=memo))

    # As `render` cuts: each clip's loudness kept in the cache once measured.
    measures = work / "measures"
    first = best(tool(smart_out, DEFAULTS, measures), 1)
    rows.append(("tool stitch(), smart, first cut (each clip's loudness measured)", first,
                 smart_out, getattr(result[-1], "reason", "")))  # fmt: skip
    again = best(tool(smart_out, DEFAULTS, measures), ENCODE_RUNS)
    rows.append(("tool stitch(), smart, cut again (loudness kept)", again, smart_out, ""))
    full = StitchOptions(smart=False)
    rows.append(("tool stitch(), smart off", best(tool(full_out, full, None), ENCODE_RUNS),
                 full_out, "its full filter graph"))  # fmt: skip
    bare = work / "bare.mp4"
    rows.append(("bare ffmpeg graph of the cut", best(lambda: bare_graph(clips, bare), ENCODE_RUNS),
                 bare, ""))  # fmt: skip
    hard = work / "floor.mp4"
    rows.append(("hard-cut floor (concat copy + AAC)", best(lambda: floor(paths, hard), RUNS),
                 hard, "no transitions, no trim"))  # fmt: skip
    print(f"\n(b) 48 clips of 5 s, {SIZE}, x264 ultrafast crf 23, 3 crossfades + 1 trim")
    print("| what | seconds | ratio to bare graph | worst cut offset (ms) | film (s) |")
    print("|---|---|---|---|---|")
    reference = rows[3][1]
    for name, seconds, out, note in rows:
        offset = worst_offset(out, TONES, cuts) if out != hard else float("nan")
        length = probe(out).video_duration
        extra = f" ({note})" if note else ""
        print(
            f"| {name}{extra} | {seconds:.2f} | {seconds / reference:.2f} "
            f"| {offset * 1000:.1f} | {length:.3f} |"
        )
    decode_check_ffmpeg(smart_out)
    print("smart film: decoded end to end with -xerror, no error")


# --- (c) 12 silent hard cuts -----------------------------------------------------------


def silent_story(folder: Path) -> Path:
    scenes = "\n".join(
        f"  - {{id: s{k:02d}, prompt: 'shot {k}, a quiet street', duration: 5}}" for k in range(12)
    )
    story = folder / "storyboard.yaml"
    story.write_text(
        f"storyboard: 1\ntitle: Twelve quiet shots\nscenes:\n{scenes}\n",
        encoding="utf-8",
    )
    return story


def bare_concat(paths: list[Path], out: Path) -> None:
    """In sync by construction: each clip's exact length, silence of the film's length."""
    lines = ["ffconcat version 1.0"]
    total = 0.0
    for p in paths:
        seconds = (probe(p).frames or 0) / FPS
        total += seconds
        lines += [f"file '{p}'", f"duration {seconds!r}"]
    listing = out.with_suffix(".ffconcat")
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_ffmpeg(
        [
            *("-f", "concat", "-safe", "0", "-i", str(listing)),
            *("-f", "lavfi", "-t", f"{total}", "-i", "anullsrc=r=48000:cl=stereo"),
            *("-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac"),
            *("-b:a", DEFAULTS.audio_bitrate, "-movflags", "+faststart", str(out)),
        ]
    )


def silent_cuts(work: Path) -> None:
    folder = work / "silent"
    folder.mkdir()
    story = silent_story(folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIRIN_", "STORYBOARD_"))}
    env["STORYBOARD_CACHE"] = str(work / "cache-silent")
    cli("render", str(story), env=env)
    build = folder / "build"
    plan = json.loads((build / "plan.json").read_text())
    paths = [build / "clips" / f"{t['id']}.mp4" for t in plan["tasks"]]
    # The preview renders silence as a silent sound track: there is a stream to measure.
    clips = [CutClip(p, p.stem, None, Transition("cut", 0), ()) for p in paths]
    out = work / "silent-tool.mp4"
    memo = work / "measures"
    tool = best(lambda: stitch(clips, out, memo=memo), RUNS)

    def cli_stitch() -> None:
        (build / artifact.RECORD).unlink(missing_ok=True)
        cli("stitch", str(story), env=env)

    command = best(cli_stitch, RUNS)
    bare = work / "silent-bare.mp4"
    concat = best(lambda: bare_concat(paths, bare), RUNS)
    print("\n(c) 12 silent preview clips of 5 s, hard cuts, best of", RUNS)
    print("| what | seconds | ratio to bare concat |")
    print("|---|---|---|")
    print(f"| bare in-sync concat | {concat:.3f} | 1.00 |")
    print(f"| tool stitch() | {tool:.3f} | {tool / concat:.2f} |")
    print(f"| `storyboard stitch` (CLI, cuts again) | {command:.3f} | {command / concat:.2f} |")
    print(f"target: CLI <= 1.3 x bare + 0.5 s = {1.3 * concat + 0.5:.3f} s")


def main() -> None:
    parts = sys.argv[1:] or ["a", "b", "c"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-iterate-") as tmp:
        work = Path(tmp)
        if "a" in parts:
            unchanged_renders(work)
        if "b" in parts:
            smart_cut(work)
        if "c" in parts:
            silent_cuts(work)


if __name__ == "__main__":
    main()
