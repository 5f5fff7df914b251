"""The film's loudness: measured once, applied as one gain (EBU R128 style).

The film's sound is measured in a sound-only pass (a few hundredths of the
film's length) and corrected by one gain in the film's run, like loudnorm's
two-pass linear mode: the mix is not compressed, and a limiter is added only
when the gain would push peaks past the ceiling.

Lean where it can be, because a hard-cut re-stitch is meant to be cheap:
- **Nothing to measure**: no clip has a sound stream and there is no music,
  so nothing is run (the film is silence; no gain could apply).
- **Hard cuts and crossfades, no music, no fades, a memo folder given**: the
  film's sound is its pieces' sound end to end. Each clip is measured once, on its
  own, as BS.1770 blocks (ffmpeg's ebur128 momentary loudness: 400 ms
  blocks every 100 ms, and the true peak of each 100 ms), at 48 kHz stereo
  as the film resamples it, and kept in the memo keyed by the clip's bytes
  and this method's version. The film's integrated loudness is then BS.1770
  arithmetic on the film's own 400 ms blocks: a block inside one piece takes
  that piece's nearest block of its trim; a block across a cut is the mix of
  each side's nearest block, weighted by how much of it each side fills;
  silent pieces fill their share with silence, as in the film. Then the two
  gates (absolute -70 LUFS, relative -10 LU). For steady sound this is the
  full measure's answer; for any sound it differs only by what changes
  inside 50 ms at a trim's edge. A crossfade is an equal-power one (qsin
  curves), whose energy over the overlap is, for two different clips, that
  of a cut at its middle: it is counted as one. Its peak is bounded by the
  root of the sum of the two sides' squared peaks (the most two equal-power
  curves can add up to), so a limiter is added whenever it could be needed.
- Fades and music are measured in full, as the mix those make is not a
  sum of the clips.

A memo file is an optimisation, never a source of errors: one that cannot be
read, is too big or is not what this version writes is measured again and
rewritten.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import ffmpeg

from storyboard import scratch
from storyboard.digest import file_sha256
from storyboard.errors import StitchError
from storyboard.film.cutplan import CutPlan
from storyboard.film.graph import (
    CHANNELS,
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    Gain,
    Piece,
    loudness_args,
)
from storyboard.language.montage import Audio
from storyboard.media import run_ffmpeg

# ebur128 reports this for digital silence: nothing to normalise.
SILENCE_LUFS = -70.0
# BS.1770-4: gating blocks of 400 ms every 100 ms; gates at -70 LUFS and -10 LU.
STEP = SAMPLE_RATE // 10
BLOCK = 4 * STEP
ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0
# Names the measurement a memo file holds; a new method gets a new version, so
# files of an older one are never read as this one's.
METHOD = "ebur128-momentary-100ms-v1"
# A memo file holds two numbers per 100 ms: an hour of sound stays under this.
MAX_MEMO_STEPS = 36_000
MAX_MEMO_BYTES = 1 << 20
LEVEL_DIGITS = 3  # ebur128's own precision (0.001 LU, 0.001 linear peak)


@dataclass(frozen=True)
class ClipLevels:
    """One clip's sound in 100 ms steps from its first sample: `momentary[i]` is the
    loudness (LUFS) of the 400 ms block ending with step i (meaningless for i < 3),
    `peaks[i]` the true peak (linear) within step i."""

    momentary: tuple[float, ...]
    peaks: tuple[float, ...]


def measure(
    plan: CutPlan,
    bed: Audio | None,
    *,
    target: float | None,
    true_peak: float,
    work: Path,
    timeout: float,
    memo: Path | None = None,
) -> tuple[float | None, Gain | None]:
    """Measure the mix and return (integrated LUFS, the gain to reach `target`);
    (None, None) when `target` is None or there is no sound at all. `memo`: a
    folder where measurements of single clips are kept between stitches (keyed
    by their content); None measures the film in full."""
    if target is None:
        return None, None
    if bed is None and not any(p.has_audio for p in plan.pieces):
        return None, None
    if memo is not None and bed is None and sums_of_clips(plan.pieces):
        levels = clip_levels(plan.pieces, memo, work, timeout)
        integrated, peak = film_level(plan.pieces, levels)
    else:
        integrated, peak = _measure_film(plan, bed, work, timeout)
    return integrated, gain_for(integrated, peak, target, true_peak)


def gain_for(integrated: float, peak: float, target: float, true_peak: float) -> Gain | None:
    """The gain from `integrated` LUFS to `target`, limited when peaks (linear true
    peak `peak`) would pass `true_peak` dBTP; None for silence."""
    if integrated <= SILENCE_LUFS or peak <= 0:
        return None
    db = target - integrated
    limit = None
    if 20 * math.log10(peak) + db > true_peak:
        limit = 10 ** (true_peak / 20)
    return Gain(db, limit)


def sums_of_clips(pieces: Sequence[Piece]) -> bool:
    """Whether the film's sound is its pieces' sound end to end: hard cuts and
    equal-power crossfades, no fade through black or from it."""
    return all(p.join in ("cut", "overlap") and not (p.fade_in or p.fade_out) for p in pieces)


def _measure_film(
    plan: CutPlan, bed: Audio | None, work: Path, timeout: float
) -> tuple[float, float]:
    """One ebur128 pass over the film's whole mix: (integrated LUFS, linear true peak)."""
    report = work / "loudness.txt"
    run_ffmpeg(loudness_args(plan.pieces, bed, report), timeout=timeout)
    integrated, peak = None, 0.0
    for line in report.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key == "lavfi.r128.I":
            integrated = float(value)
        elif key == "lavfi.r128.true_peak":
            peak = max(peak, float(value))
    if integrated is None:
        raise StitchError("the loudness measurement of the film's sound came back empty")
    return integrated, peak


# --- single clips, kept in the memo --------------------------------------------------


def content_key(path: Path) -> str:
    """The clip's content (sha256 of its bytes) and the measuring method, as a file name."""
    return f"{METHOD}-{file_sha256(path)}"


def clip_levels(
    pieces: Sequence[Piece], memo: Path, work: Path, timeout: float
) -> dict[Path, ClipLevels]:
    """The levels of every clip with sound, from the memo where it holds them; the
    others measured in one ffmpeg run and added to the memo."""
    keys = {p.path: content_key(p.path) for p in pieces if p.has_audio}
    levels: dict[Path, ClipLevels] = {}
    missing: dict[str, Path] = {}  # one measurement per content, however often it is cut in
    for path, key in keys.items():
        known = read_memo(memo / f"{key}.json")
        if known is not None:
            levels[path] = known
        else:
            missing.setdefault(key, path)
    measured = _measure_clips(list(missing.values()), work, timeout)
    for key, found in zip(missing, measured, strict=True):
        if len(found.momentary) <= MAX_MEMO_STEPS:
            _keep(memo / f"{key}.json", found)
    by_key = dict(zip(missing, measured, strict=True))
    return {path: levels[path] if path in levels else by_key[key] for path, key in keys.items()}


def _keep(path: Path, levels: ClipLevels) -> None:
    """Write a memo file atomically; a memo that cannot be written (a full disk, a
    read-only cache) only means measuring again next time, so the stitch goes on."""
    text = json.dumps(
        {"method": METHOD, "momentary": levels.momentary, "peaks": levels.peaks},
        separators=(",", ":"),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch.atomic_write(path, text)
    except OSError:
        pass


def read_memo(path: Path) -> ClipLevels | None:
    """A memo file's levels, or None when it is missing, too big, unreadable or not
    exactly what `_keep` writes for this method."""
    try:
        if path.stat().st_size > MAX_MEMO_BYTES:
            return None
        data: Any = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("method") != METHOD:
        return None
    momentary, peaks = data.get("momentary"), data.get("peaks")
    if not (_numbers(momentary) and _numbers(peaks)) or len(momentary) != len(peaks):
        return None
    return ClipLevels(tuple(map(float, momentary)), tuple(map(float, peaks)))


def _numbers(value: object) -> TypeGuard[list[float]]:
    return isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
    )


def _measure_clips(paths: Sequence[Path], work: Path, timeout: float) -> list[ClipLevels]:
    """Measure each clip's whole sound (one ffmpeg run for all of them), resampled as
    the film resamples it and cut into 100 ms frames, so that ebur128's values on
    each frame are the block and the peak that end with it."""
    if not paths:
        return []
    reports = [work / f"loudness-{i:03d}.txt" for i in range(len(paths))]
    outputs = []
    for path, report in zip(paths, reports, strict=True):
        audio = (
            ffmpeg.input(str(path), **{"discard:v": "all"})
            .audio.filter("aresample", SAMPLE_RATE, first_pts=0)
            .filter(
                "aformat", sample_fmts="fltp", sample_rates=SAMPLE_RATE, channel_layouts=CHANNELS
            )
            .filter("asetnsamples", n=STEP, p=1)
            .filter("ebur128", peak="true", metadata=1)
            .filter("ametadata", mode="print", file=str(report))
        )
        outputs.append(ffmpeg.output(audio, "-", f="null"))
    run_ffmpeg([str(a) for a in ffmpeg.merge_outputs(*outputs).get_args()], timeout=timeout)
    return [_parse_report(report, path) for report, path in zip(reports, paths, strict=True)]


def _parse_report(report: Path, clip: Path) -> ClipLevels:
    """ametadata's print-out: a `frame:` line, then that frame's `key=value` lines."""
    momentary: list[float] = []
    peaks: list[float] = []
    if not report.exists():  # a sound stream that decodes to no sample at all
        return ClipLevels((), ())
    for line in report.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if line.startswith("frame:"):
            momentary.append(-math.inf)
            peaks.append(0.0)
        elif key == "lavfi.r128.M" and momentary:
            momentary[-1] = round(float(value), LEVEL_DIGITS)
        elif key == "lavfi.r128.true_peak" and peaks:
            peaks[-1] = round(float(value), LEVEL_DIGITS)
    if any(math.isinf(m) for m in momentary):
        raise StitchError(f"the loudness measurement of {clip} came back incomplete")
    return ClipLevels(tuple(momentary), tuple(peaks))


# --- the film's level from its pieces' ------------------------------------------------


@dataclass(frozen=True)
class _Span:
    """A piece in the film: film samples [at, at + length), from clip sample `start`."""

    at: int
    start: int
    length: int
    levels: ClipLevels | None  # None: silence


def energy(lufs: float) -> float:
    """A block's mean square (K-weighted, channels summed) from its loudness."""
    return 0.0 if lufs <= -120 else 10 ** ((lufs + 0.691) / 10)


def _lufs(energy: float) -> float:
    return -0.691 + 10 * math.log10(energy) if energy > 0 else -math.inf


def _nearest_block(span: _Span, centre: int) -> float:
    """The energy of the clip block (inside the piece's trim where one fits) whose
    centre is nearest `centre` (clip samples); 0 for silence."""
    if span.levels is None:
        return 0.0
    blocks = range(3, len(span.levels.momentary))  # block i ends at (i + 1) * STEP
    inside = [
        i
        for i in blocks
        if (i - 3) * STEP >= span.start and (i + 1) * STEP <= span.start + span.length
    ]
    candidates = inside or list(blocks)
    if not candidates:
        return 0.0  # under 400 ms of sound: too short to hold a block
    best = min(candidates, key=lambda i: abs((i + 1) * STEP - BLOCK // 2 - centre))
    return energy(span.levels.momentary[best])


def film_level(pieces: Sequence[Piece], levels: dict[Path, ClipLevels]) -> tuple[float, float]:
    """The film's (integrated LUFS, linear true peak) from its pieces' clip levels,
    as BS.1770 measures the film: 400 ms blocks every 100 ms from its start."""
    spans, at = [], 0
    for i, p in enumerate(pieces):
        # A crossfade counts as a cut at its middle: each side gives up its half.
        head = (p.overlap - p.overlap // 2) * SAMPLES_PER_FRAME
        after = pieces[i + 1] if i + 1 < len(pieces) else None
        tail = (after.overlap // 2) * SAMPLES_PER_FRAME if after else 0
        length = p.frames * SAMPLES_PER_FRAME - head - tail
        start = p.start * SAMPLES_PER_FRAME + head
        spans.append(_Span(at, start, length, levels.get(p.path)))
        at += length
    starts = [s.at for s in spans]
    blocks = []
    for end in range(BLOCK, at + 1, STEP):
        energy, begin = 0.0, end - BLOCK
        first = bisect.bisect_right(starts, begin) - 1
        for span in spans[first:]:
            if span.at >= end:
                break
            lo, hi = max(begin, span.at), min(end, span.at + span.length)
            centre = span.start + (lo + hi) // 2 - span.at
            energy += (hi - lo) / BLOCK * _nearest_block(span, centre)
        blocks.append(energy)
    peaks = [_peak(levels.get(p.path), p.start, p.frames) for p in pieces]
    for i, p in enumerate(pieces[1:], 1):
        if p.overlap:  # both sides of the overlap at once: at most the root of their squares
            before = pieces[i - 1]
            out = _peak(
                levels.get(before.path), before.start + before.frames - p.overlap, p.overlap
            )
            into = _peak(levels.get(p.path), p.start, p.overlap)
            peaks.append(math.hypot(out, into))
    return gated(blocks), max(peaks, default=0.0)


def _peak(levels: ClipLevels | None, start: int, frames: int) -> float:
    """The highest true peak of the 100 ms steps that overlap clip frames
    `start` to `start + frames`; 0 for silence."""
    if levels is None:
        return 0.0
    lo = start * SAMPLES_PER_FRAME
    first, last = lo // STEP, (lo + frames * SAMPLES_PER_FRAME - 1) // STEP
    return max(levels.peaks[first : last + 1], default=0.0)


def gated(energies: Sequence[float]) -> float:
    """BS.1770 integrated loudness of block energies: the mean of those above -70
    LUFS, then of those above that mean less 10 LU; -70 when none is left."""
    loud = [e for e in energies if _lufs(e) > ABSOLUTE_GATE]
    if not loud:
        return SILENCE_LUFS
    relative = _lufs(sum(loud) / len(loud)) + RELATIVE_GATE
    kept = [e for e in loud if _lufs(e) > relative]
    return _lufs(sum(kept) / len(kept))
