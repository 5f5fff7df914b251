"""How the clips become one film: the same types from the storyboard to the stitcher.

A `Transition` leads into a clip of the cut, `Audio` is the music under the
film and how it is mixed, `Film` the `film:` settings. The model builds them
from the storyboard with the schema's defaults, the plan carries them and the
film stage takes them as they are: one type for each, so that a setting cannot
mean one thing to the language and another to the stitcher. They live at the
bottom, in the language, so that every later stage may import them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from storyboard.problems import Pos

# How long a transition other than a hard cut lasts when the storyboard says not.
TRANSITION_SECONDS: Final = 0.5
# The position of a value that was not read from a storyboard (no file, no line).
UNPLACED: Final = Pos("")


@dataclass(frozen=True)
class Transition:
    """How a clip is entered: "cut", "fade" (through black, no overlap), "crossfade"
    or an ffmpeg xfade name (overlapping), over `duration` seconds."""

    type: str = "cut"
    duration: float = 0.0

    @property
    def overlaps(self) -> bool:
        """Whether the clip it leads into starts `duration` before the last one ends."""
        return self.type not in ("cut", "fade") and self.duration > 0


@dataclass(frozen=True)
class Audio:
    """The music under the clips' own sound: linear `volume`, fades in seconds.

    `music` is the file as the storyboard names it (a path or a URL); the film
    stage is given a local path. `pos` is where the storyboard names it, for
    problems (`UNPLACED` when the value was not read from a storyboard)."""

    music: str
    volume: float = 1.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    loop: bool = True
    duck: bool = False
    pos: Pos = UNPLACED

    def to_json(self) -> dict[str, Any]:
        """As plan.json holds it (`music` a URL, or a path relative to the build folder)."""
        return {
            "music": self.music,
            "volume": self.volume,
            "fade_in": self.fade_in,
            "fade_out": self.fade_out,
            "loop": self.loop,
            "duck": self.duck,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Audio:
        keys = ("volume", "fade_in", "fade_out", "loop", "duck")
        return cls(data["music"], *(data[k] for k in keys))


@dataclass(frozen=True)
class Film:
    """The `film:` settings the author gave; None leaves the stitcher's default."""

    size: tuple[int, int] | None = None  # None: the first clip's size
    loudness: float | None = None
    normalise: bool = True  # `loudness: false` turns normalisation off
    crf: int | None = None
    preset: str | None = None
    audio_bitrate: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Only what was set, so the plan shows the author's choices, not our defaults."""
        data: dict[str, Any] = {}
        if self.size is not None:
            data["size"] = list(self.size)
        if not self.normalise:
            data["loudness"] = None
        elif self.loudness is not None:
            data["loudness"] = self.loudness
        for name in ("crf", "preset", "audio_bitrate"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Film:
        """The inverse of `to_json` (a missing key is the stitcher's default)."""
        size = data.get("size")
        return cls(
            size=(size[0], size[1]) if size is not None else None,
            loudness=data.get("loudness"),
            normalise=not ("loudness" in data and data["loudness"] is None),
            crf=data.get("crf"),
            preset=data.get("preset"),
            audio_bitrate=data.get("audio_bitrate"),
        )
