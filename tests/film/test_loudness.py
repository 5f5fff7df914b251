"""The film's loudness: measured in full, or from each clip's measurement kept in a memo.

Clips are tones at different levels (and silence), made with ffmpeg; the memo's
answer is held against ffmpeg's own full measurement of the same cut.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storyboard.film import loudness
from storyboard.film.cutplan import CutClip, CutPlan, plan_cut
from storyboard.film.graph import Gain
from storyboard.film.stitch import Audio, StitchOptions, Transition, stitch
from storyboard.media import run_ffmpeg

CUT = Transition("cut", 0)
TARGET, CEILING = -16.0, -1.0
TIMEOUT = 120.0
QUICK = StitchOptions(preset="ultrafast")


def make_clip(path: Path, seconds: float, tone: float | None, volume: float = 1.0) -> Path:
    """A 160x120 colour clip with a sine of `tone` Hz at `volume` (None: no sound stream)."""
    args = ["-f", "lavfi", "-i", f"color=c=gray:s=160x120:r=24:d={seconds}"]
    if tone is not None:
        sound = f"sine=f={tone}:r=48000:d={seconds},volume={volume}"
        args += ["-f", "lavfi", "-i", sound, "-c:a", "aac", "-b:a", "96k", "-ac", "2"]
    run_ffmpeg([*args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)])
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("loudness-media")
    return {
        "loud": make_clip(d / "loud.mp4", 1.0, 440.0, volume=3.0),
        "quiet": make_clip(d / "quiet.mp4", 2.0, 880.0, volume=0.8),
        "middle": make_clip(d / "middle.mp4", 1.5, 660.0, volume=1.2),
        "silent": make_clip(d / "silent.mp4", 1.0, None),
        "silent2": make_clip(d / "silent2.mp4", 1.5, None),
    }


def cut_of(
    clips: dict[str, Path], *entries: tuple[str, tuple[float, float] | None]
) -> list[CutClip]:
    return [CutClip(clips[name], name, trim, CUT) for name, trim in entries]


def measure(
    plan: CutPlan, work: Path, memo: Path | None, bed: Audio | None = None
) -> tuple[float | None, Gain | None]:
    work.mkdir(parents=True, exist_ok=True)
    return loudness.measure(
        plan, bed, target=TARGET, true_peak=CEILING, work=work, timeout=TIMEOUT, memo=memo
    )


def memo_files(memo: Path) -> dict[str, tuple[int, int]]:
    """Each memo file's name with its inode and modification time."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(memo.iterdir())}


MIXED = (
    ("loud", None),
    ("quiet", (0.3, 1.7)),
    ("silent", None),
    ("middle", (0.25, 1.5)),
    ("loud", (0.0, 0.5)),
    ("quiet", None),
)


def test_memo_answer_equals_the_full_measure(clips: dict[str, Path], tmp_path: Path) -> None:
    plan = plan_cut(cut_of(clips, *MIXED), None)
    full, full_gain = measure(plan, tmp_path / "full", None)
    kept, kept_gain = measure(plan, tmp_path / "kept", tmp_path / "memo")
    assert full is not None and kept is not None and full_gain and kept_gain
    assert abs(kept - full) < 0.2, (kept, full)
    assert abs(kept_gain.db - full_gain.db) < 0.2
    assert (kept_gain.limit is None) == (full_gain.limit is None)
    assert len(memo_files(tmp_path / "memo")) == 3  # loud, quiet, middle: each once, no silence


def test_a_reordered_cut_measures_no_clip_again(clips: dict[str, Path], tmp_path: Path) -> None:
    memo = tmp_path / "memo"
    first = cut_of(clips, ("loud", None), ("quiet", (0.5, 2.0)), ("middle", None))
    a = stitch(first, tmp_path / "a.mp4", options=QUICK, memo=memo)
    before = memo_files(memo)
    assert len(before) == 3
    again = cut_of(clips, ("middle", (0.0, 1.0)), ("loud", None), ("quiet", None), ("loud", None))
    b = stitch(again, tmp_path / "b.mp4", options=QUICK, memo=memo)
    assert memo_files(memo) == before  # read, not measured and written again
    full, _ = measure(plan_cut(again, None), tmp_path / "work", None)
    assert a.loudness is not None and b.loudness is not None and full is not None
    assert abs(b.loudness - full) < 0.2 and b.gain_db == pytest.approx(TARGET - b.loudness)


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{not json",
        b'{"method": "ebur128-momentary-100ms-v0", "momentary": [], "peaks": []}',
        b'{"method": "ebur128-momentary-100ms-v1", "momentary": [1, 2], "peaks": [1]}',
        b'{"method": "ebur128-momentary-100ms-v1", "momentary": ["x"], "peaks": [1]}',
        b"\xff\xfe" * 10,
    ],
    ids=["empty", "truncated", "old-method", "lengths", "types", "not-utf8"],
)
def test_a_damaged_memo_file_is_measured_again(
    clips: dict[str, Path], tmp_path: Path, damage: bytes
) -> None:
    memo = tmp_path / "memo"
    plan = plan_cut(cut_of(clips, ("loud", None), ("quiet", None)), None)
    good = measure(plan, tmp_path / "w1", memo)
    victim = memo / f"{loudness.content_key(clips['loud'])}.json"
    victim.write_bytes(damage)
    assert measure(plan, tmp_path / "w2", memo) == good
    assert loudness.read_memo(victim) is not None  # rewritten whole


def test_an_oversized_memo_file_is_a_miss(clips: dict[str, Path], tmp_path: Path) -> None:
    memo = tmp_path / "memo"
    plan = plan_cut(cut_of(clips, ("loud", None)), None)
    good = measure(plan, tmp_path / "w1", memo)
    (victim,) = memo.iterdir()
    victim.write_bytes(b" " * (loudness.MAX_MEMO_BYTES + 1))
    assert measure(plan, tmp_path / "w2", memo) == good
    assert victim.stat().st_size < loudness.MAX_MEMO_BYTES


def test_silent_clips_without_music_are_not_measured(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    plan = plan_cut(cut_of(clips, ("silent", None), ("silent2", (0.5, 1.5))), None)
    for memo in (None, tmp_path / "memo"):
        work = tmp_path / "work"
        assert measure(plan, work, memo) == (None, None)
        assert list(work.iterdir()) == []  # no report: ffmpeg never ran
    assert not (tmp_path / "memo").exists()
    result = stitch(cut_of(clips, ("silent", None)), tmp_path / "film.mp4", memo=tmp_path / "m")
    assert result.loudness is None and result.gain_db == 0


def test_music_over_silence_is_measured_in_full(clips: dict[str, Path], tmp_path: Path) -> None:
    bed = Audio(str(clips["middle"]), 1.0, 0, 0, loop=True, duck=False)
    plan = plan_cut(cut_of(clips, ("silent", None), ("silent2", None)), None)
    assert measure(plan, tmp_path / "bare", tmp_path / "memo") == (None, None)
    integrated, gain = measure(plan, tmp_path / "work", tmp_path / "memo", bed)
    assert integrated is not None and integrated > -40 and gain is not None
    assert (tmp_path / "work" / "loudness.txt").exists()  # the film's mix, in one pass
    assert not (tmp_path / "memo").exists()


def test_fades_are_measured_in_full(clips: dict[str, Path], tmp_path: Path) -> None:
    memo = tmp_path / "memo"
    entries = [
        CutClip(clips["loud"], "loud", None, CUT),
        CutClip(clips["quiet"], "quiet", None, Transition("fade", 0.5)),
    ]
    integrated, _ = measure(plan_cut(entries, None), tmp_path / "fade", memo)
    assert integrated is not None and (tmp_path / "fade" / "loudness.txt").exists()
    assert not memo.exists()
    measure(plan_cut(cut_of(clips, ("loud", None), ("quiet", None)), None), tmp_path / "w", memo)
    assert len(memo_files(memo)) == 2  # the same clips by hard cut: each measured alone


def test_crossfades_are_counted_from_the_memo_as_the_full_measure_finds_them(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    """An equal-power crossfade carries the energy of a cut at its middle; its peak
    is bounded by both sides' at once, so the limiter is never left out."""
    fade = Transition("crossfade", 0.5)
    entries = [
        CutClip(clips["loud"], "loud", None, CUT),
        CutClip(clips["quiet"], "quiet", (0.0, 1.5), fade),
        CutClip(clips["middle"], "middle", None, Transition("crossfade", 0.25)),
        CutClip(clips["silent2"], "silent2", None, fade),
        CutClip(clips["loud"], "loud", None, CUT),
    ]
    plan = plan_cut(entries, None)
    full, full_gain = measure(plan, tmp_path / "full", None)
    kept, kept_gain = measure(plan, tmp_path / "kept", tmp_path / "memo")
    assert full is not None and kept is not None and full_gain and kept_gain
    assert abs(kept - full) < 0.2, (kept, full)
    assert not (tmp_path / "kept" / "loudness.txt").exists()  # no pass over the mix
    assert full_gain.limit is None or kept_gain.limit is not None


def test_gating_follows_bs1770() -> None:
    """Blocks under -70 LUFS never count; blocks 10 LU under the mean of the rest do not."""
    energy = loudness.energy
    assert loudness.gated([]) == loudness.SILENCE_LUFS
    assert loudness.gated([0.0, energy(-80.0)]) == loudness.SILENCE_LUFS
    assert loudness.gated([energy(-20.0)] * 3 + [0.0] * 5) == pytest.approx(-20.0)
    # -20 and -40: the mean of both is ~-23 LUFS, so -40 falls under the relative gate.
    assert loudness.gated([energy(-20.0), energy(-40.0)]) == pytest.approx(-20.0)
    both = loudness.gated([energy(-20.0), energy(-25.0)])
    assert -25.0 < both < -20.0


def test_memo_files_are_bounded(clips: dict[str, Path], tmp_path: Path) -> None:
    memo = tmp_path / "memo"
    measure(plan_cut(cut_of(clips, ("quiet", None)), None), tmp_path / "w", memo)
    (kept,) = memo.iterdir()
    assert kept.stat().st_size < 40 * 2 * 20  # 2 s: 20 steps of two numbers
    assert not [p for p in memo.iterdir() if p.name.startswith(".")]  # nothing half-written
    assert os.access(kept, os.R_OK)


def test_a_memo_that_cannot_be_written_is_no_error(clips: dict[str, Path], tmp_path: Path) -> None:
    blocked = tmp_path / "memo"
    blocked.write_text("a file where the memo folder should be", encoding="utf-8")
    plan = plan_cut(cut_of(clips, ("loud", None), ("middle", None)), None)
    integrated, _ = measure(plan, tmp_path / "work", blocked)
    full, _ = measure(plan, tmp_path / "full", None)
    assert integrated is not None and full is not None and abs(integrated - full) < 0.2
    assert (tmp_path / "work" / "loudness-000.txt").exists()  # measured clip by clip
    assert blocked.is_file()
