"""What a card says beyond its payload: the author's names, the film's time, upstream frames.

A payload knows only `image_1`, `element_1`, `video_1` and the clip's own
seconds. The preview backend, which has the plan, hands the renderer these
notes so that a card reads in the storyboard's words (`<<<keeper>>>`), tells
where its moment sits in the film (a note "at 0:44" can be given), and shows
an upstream scene's picture rather than a screenshot of its whole card.

Plain data, written into the preview's request.json (a render resumed after a
crash draws the same card) and hashed into the preview's cache shelf (a card is
never served with another film's timecode).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

PictureKind = Literal["card", "plain", "edit"]


@dataclass(frozen=True)
class FilmSpan:
    """Where a clip sits in the film, in frames: clip frame `clip_from` is film frame
    `start`, and `frames` frames of the clip are used from there (a trim keeps fewer)."""

    start: int
    clip_from: int
    frames: int

    def film_frame(self, clip_frame: int) -> int | None:
        """The film frame showing `clip_frame`, or None where the cut leaves it out."""
        if self.clip_from <= clip_frame < self.clip_from + self.frames:
            return self.start + clip_frame - self.clip_from
        return None


@dataclass(frozen=True)
class UpstreamFrame:
    """An image of the payload that is another task's frame (`first_frame: {from: X}`).

    `picture` says what that frame holds: a preview card ("card": its picture box
    is cut out), a card that showed no picture ("plain": a frame of `colour`, its
    background), or a base edit ("edit": the video above its banner)."""

    task: str
    picture: PictureKind = "card"
    colour: tuple[int, int, int] = (0, 0, 0)


@dataclass(frozen=True)
class CardNotes:
    names: Mapping[str, str] = field(default_factory=dict)  # token -> the author's name
    upstream: Mapping[str, UpstreamFrame] = field(default_factory=dict)  # token -> its task
    film: FilmSpan | None = None  # None: the clip is not in the cut

    def to_json(self) -> dict[str, Any]:
        return {
            "names": dict(self.names),
            "upstream": {
                token: {"task": u.task, "picture": u.picture, "colour": list(u.colour)}
                for token, u in self.upstream.items()
            },
            "film": (
                None
                if self.film is None
                else {
                    "start": self.film.start,
                    "clip_from": self.film.clip_from,
                    "frames": self.film.frames,
                }
            ),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CardNotes:
        film = data.get("film")
        upstream = {
            token: UpstreamFrame(str(u["task"]), u["picture"], _colour(u["colour"]))
            for token, u in dict(data.get("upstream", {})).items()
        }
        return cls(
            names={str(k): str(v) for k, v in dict(data.get("names", {})).items()},
            upstream=upstream,
            film=None
            if film is None
            else FilmSpan(int(film["start"]), int(film["clip_from"]), int(film["frames"])),
        )


def _colour(value: Any) -> tuple[int, int, int]:
    red, green, blue = (int(c) for c in value)
    return red, green, blue
