"""The film's loudness: measured once, applied as one gain (EBU R128 style).

The film's sound is measured in a sound-only pass (a few hundredths of the
film's length) and corrected by one gain in the film's run, like loudnorm's
two-pass linear mode: the mix is not compressed, and a limiter is added only
when the gain would push peaks past the ceiling.
"""

from __future__ import annotations

import math
from pathlib import Path

from storyboard.errors import StitchError
from storyboard.film.cutplan import CutPlan
from storyboard.film.graph import Gain, loudness_args
from storyboard.language.montage import Audio
from storyboard.media import run_ffmpeg

# ebur128 reports this for digital silence: nothing to normalise.
SILENCE_LUFS = -70.0


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
    (None, None) when `target` is None. `memo`: a folder where measurements of
    single clips may be kept between stitches (keyed by their content)."""
    if target is None:
        return None, None
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
