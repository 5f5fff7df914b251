"""Where each clip's tone starts in a film's sound: the benchmark's sync measure.

Each benchmark clip carries its own sine tone, so a cut is heard as one tone
giving way to the next. The onset is the centre of the first 20 ms window in
which the new tone is louder than the old one and has reached half its level
(a sliding DFT at the two frequencies). The test suite has its own copy of
this measure (tests/test_stitch.py) so that neither imports the other.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

RATE = 8000  # sound is analysed as mono at this rate
WINDOW = 0.02


def mono(path: Path) -> tuple[np.ndarray, float]:
    """The sound of `path` as mono floats at RATE, and the time of its first sample."""
    chunks, start = [], None
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        for frame in container.decode(container.streams.audio[0]):
            if start is None:
                start = float(frame.time or 0.0)
            chunks += [out.to_ndarray().ravel() for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().ravel() for out in resampler.resample(None)]
    return np.concatenate(chunks), start or 0.0


def _power(x: np.ndarray, freq: float, window: int) -> np.ndarray:
    n = np.arange(len(x))
    sums = np.concatenate([[0], np.cumsum(x * np.exp(-2j * np.pi * freq * n / RATE))])
    return np.abs(sums[window:] - sums[:-window])


def onset(
    sound: tuple[np.ndarray, float], old: float, new: float, near: float, reach: float = 1.5
) -> float | None:
    """When tone `new` takes over from `old`, within `reach` s of `near` (None: never)."""
    x, start = sound
    window, span = round(WINDOW * RATE), round(reach * RATE)
    centre = round((near - start) * RATE)
    lo, hi = max(0, centre - span), min(len(x), centre + span)
    if hi - lo <= window:
        return None
    rising, falling = _power(x[lo:hi], new, window), _power(x[lo:hi], old, window)
    taken = (rising > falling) & (rising > rising.max() / 2)
    if not taken.any():
        return None
    return start + (lo + int(np.argmax(taken)) + window / 2) / RATE


def worst_offset(path: Path, tones: list[float], cuts: list[float]) -> float:
    """The largest |heard cut - expected cut| over every cut, in seconds (inf: a
    tone was never found)."""
    sound = mono(path)
    worst = 0.0
    for k, cut in enumerate(cuts):
        heard = onset(sound, tones[k], tones[k + 1], cut)
        worst = max(worst, abs(heard - cut) if heard is not None else float("inf"))
    return worst
