"""The stitcher's vocabulary: what a cut is made of and what a stitch reports.

Plain data and no media, so that what only describes or records a film (the
plan's cut, `film.artifact`, run.json) imports this and not the stitcher,
with its ffmpeg graphs, PyAV and Pillow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storyboard.language.montage import Audio, Transition

StitchProgress = Callable[[float, float], None]
"""Told the seconds of the film written so far and the film's length in seconds."""

__all__ = [
    "DEFAULT_OPTIONS",
    "Audio",
    "CutClip",
    "ShotMark",
    "StitchOptions",
    "StitchResult",
    "Transition",
]

# Defaults of StitchOptions. CRF 20 at x264's veryfast preset is visually clean
# for generated footage and re-encodes a minute of 720p in well under a minute
# on two cores; 192 kb/s is transparent for stereo AAC from ffmpeg's encoder.
LOUDNESS_LUFS = -16.0  # integrated loudness for online video (EBU R128 s1 suggests -23 for TV)
TRUE_PEAK_DB = -1.0  # ceiling for the limiter, dBTP
CRF = 20
PRESET = "veryfast"
AUDIO_BITRATE = "192k"


@dataclass(frozen=True)
class ShotMark:
    """A shot inside a clip, seconds from the clip's (trimmed) start; for the contact sheet."""

    label: str
    start: float
    duration: float


@dataclass(frozen=True)
class CutClip:
    """One clip of the cut; `transition` leads into it (on the first clip: a fade from black)."""

    path: Path
    label: str
    trim: tuple[float, float] | None
    transition: Transition
    shots: tuple[ShotMark, ...] = ()


@dataclass(frozen=True)
class StitchOptions:
    """`size`: the film's (width, height), None for the first clip's. `loudness`: the
    integrated target in LUFS, None to leave levels alone. `decode_copied`: decode
    stream-copied video in verification too, instead of proving it identical.
    `smart`: re-encode only what transitions, trims, resizes and fades touch
    (False: the whole film, when it is not a stream copy)."""

    size: tuple[int, int] | None = None
    loudness: float | None = LOUDNESS_LUFS
    true_peak: float = TRUE_PEAK_DB
    crf: int = CRF
    preset: str = PRESET
    audio_bitrate: str = AUDIO_BITRATE
    decode_copied: bool = False
    smart: bool = True


@dataclass(frozen=True)
class StitchResult:
    """The verified film. Durations in seconds; `av_gap` is sound end minus picture end."""

    path: Path
    duration: float
    expected: float
    frames: int
    size: tuple[int, int]
    method: str  # "copy" (video stream-copied), "smart" (partly) or "encode"
    reason: str  # why that method
    av_gap: float
    loudness: float | None  # the mix as measured before the gain, LUFS
    gain_db: float
    poster: Path
    contact_sheet: Path
    seconds: float  # wall time of the whole stitch
    reused: bool = False  # the film already there was current: nothing was cut


DEFAULT_OPTIONS = StitchOptions()
