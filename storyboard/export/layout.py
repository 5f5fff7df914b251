"""The cut laid out as an editor's track: clips, gaps and transitions, in whole frames.

The film overlaps clips for a crossfade and fades through black without
overlap (`storyboard.film.cutplan`). An editor's track says the same with
items end to end and transitions centred on the edit between two of them,
each transition taking its frames from the handles of its neighbours (the
model of OpenTimelineIO, FCP, Premiere and Resolve alike):

- an overlap of N frames into clip B is a transition `in_offset = N // 2`
  (B's frames before the edit) and `out_offset = N - N // 2` (A's frames
  after it); A's item ends `out_offset` early and B's starts `in_offset`
  late, so each clip still shows exactly its trim and the track is exactly
  the film;
- a fade through black is a transition from A into a gap (black) and one
  from the gap into B, the gap as long as the halves of the two fades that
  fall on it;
- the film's opening fade is a gap and a transition into the first clip.

So the track's length is the film's, frame for frame, and each clip's
visible range (its item plus the handles its transitions use) is its trim.
Plain data and arithmetic: `storyboard.export.timeline` makes the OTIO objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storyboard.film.graph import Piece


@dataclass(frozen=True)
class Span:
    """Frames `start` to `start + frames` of the media of piece `index`."""

    index: int
    start: int
    frames: int


@dataclass(frozen=True)
class Blank:
    """Black (or silence) for `frames` frames."""

    frames: int


@dataclass(frozen=True)
class Join:
    """A transition between the slots either side; `kind` the film's name for it
    ("crossfade", an xfade name, or "fade" to or from black); `into` the piece it
    leads into (for a fade out of a piece: the piece after it)."""

    kind: str
    into: int
    in_offset: int
    out_offset: int

    @property
    def frames(self) -> int:
        return self.in_offset + self.out_offset


Slot = Span | Blank | Join


def _halves(frames: int) -> tuple[int, int]:
    """A transition of `frames` centred on its edit: (before the edit, after it)."""
    return frames // 2, frames - frames // 2


def lay_out(pieces: Sequence[Piece], kinds: Sequence[str]) -> list[Slot]:
    """The track of the cut `pieces`; `kinds[i]` names the transition into piece i."""
    head = [0] * len(pieces)  # frames of each piece's trim given to a transition before it
    tail = [0] * len(pieces)  # ... and after it
    before: list[list[Slot]] = [[] for _ in pieces]  # slots between piece i-1 and piece i
    for i, piece in enumerate(pieces):
        if piece.join == "overlap":
            into, out_of = _halves(piece.overlap)
            head[i], tail[i - 1] = into, out_of
            before[i].append(Join(kinds[i], i, into, out_of))
        elif piece.join == "fade" or (i == 0 and piece.fade_in):
            # Into black: the dissolve's first half on the piece before, its second
            # on the gap (the piece's handle). Out of black: at least half on the
            # gap (the gap is then never empty), the rest on the piece.
            fade_out = pieces[i - 1].fade_out if i else 0
            if fade_out:
                on_piece, on_gap = _halves(fade_out)
                tail[i - 1] = on_gap
                before[i].append(Join("fade", i, on_piece, on_gap))
            on_piece, on_gap = _halves(piece.fade_in)
            head[i] = on_gap
            before[i].append(Blank(tail[i - 1] + on_gap if i else on_gap))
            if piece.fade_in:
                before[i].append(Join("fade", i, on_gap, on_piece))
    slots: list[Slot] = []
    for i, piece in enumerate(pieces):
        slots.extend(before[i])
        slots.append(Span(i, piece.start + head[i], piece.frames - head[i] - tail[i]))
    return slots


def length(slots: Sequence[Slot]) -> int:
    """The track's frames: its items end to end (transitions add none)."""
    return sum(s.frames for s in slots if not isinstance(s, Join))


def silenced(slots: Sequence[Slot], sounding: Sequence[bool]) -> list[Slot]:
    """The track of the clips' sound: `slots` with the span of each piece that has
    no sound (`sounding[i]` False) as silence, and a transition between two
    silences dropped (the silences merged)."""
    quiet = [s if not isinstance(s, Span) or sounding[s.index] else Blank(s.frames) for s in slots]
    kept: list[Slot] = []
    for i, slot in enumerate(quiet):
        after = quiet[i + 1] if i + 1 < len(quiet) else None
        between_silences = after is None or isinstance(after, Blank)
        if isinstance(slot, Join) and kept and isinstance(kept[-1], Blank) and between_silences:
            continue
        kept.append(slot)
    merged: list[Slot] = []
    for slot in kept:
        if isinstance(slot, Blank) and merged and isinstance(merged[-1], Blank):
            merged[-1] = Blank(merged[-1].frames + slot.frames)
        else:
            merged.append(slot)
    return merged


def lay_bed(media: int, film: int, *, loop: bool, fade_in: int, fade_out: int) -> list[Slot]:
    """The music bed under a film of `film` frames: the music (`media` frames long)
    from its start, again and again when it loops, cut at the film's end, with
    its fades as transitions from and to silence where a fade falls inside one
    play of the music (else the fade is only said in the track's metadata)."""
    plays: list[list[int]] = []  # [start, frames] of each play of the music
    at = 0
    while at < film and media > 0:
        plays.append([0, min(media, film - at)])
        at += plays[-1][1]
        if not loop:
            break
    rest = film - at
    opening: list[Slot] = []
    closing: list[Slot] = []
    # A fade is laid out only inside one play, leaving some of it unfaded: the MLT
    # adapter writes a clip that its transitions cover whole as one frame too many.
    if plays and 0 < fade_in < plays[0][1]:
        on_play, on_gap = _halves(fade_in)
        plays[0] = [plays[0][0] + on_gap, plays[0][1] - on_gap]
        opening = [Blank(on_gap), Join("fade", 0, on_gap, on_play)]
    faded = on_play if opening and len(plays) == 1 else 0
    if plays and not rest and 0 < fade_out < plays[-1][1] - faded:
        on_play, on_gap = _halves(fade_out)
        plays[-1] = [plays[-1][0], plays[-1][1] - on_gap]
        closing = [Join("fade", 0, on_play, on_gap), Blank(on_gap)]
    spans: list[Slot] = [Span(0, start, frames) for start, frames in plays]
    return [*opening, *spans, *closing, *([Blank(rest)] if rest else [])]
