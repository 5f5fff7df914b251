"""The cut laid out as an editor's track: the film's arithmetic, frame for frame.

Each case is a cut planned by the stitcher's own `plan_cut` arithmetic (pieces
built by hand here), laid out, and then read back through OpenTimelineIO: the
track lasts exactly the film, and each clip's visible range (its item plus the
handles its transitions use) is exactly the frames the film shows of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from storyboard.export.layout import Blank, Join, Span, lay_bed, lay_out, length, silenced
from storyboard.export.timeline import transition
from storyboard.film.graph import Piece, film_frames


def piece(start: int, frames: int, **join: Any) -> Piece:
    return Piece(Path("x.mp4"), (64, 36), True, start=start, frames=frames, **join)


def track_of(slots: list[Span | Blank | Join]) -> otio.schema.Track:
    track = otio.schema.Track()
    for slot in slots:
        if isinstance(slot, Span):
            clip = otio.schema.Clip(
                name=str(slot.index),
                source_range=otio.opentime.TimeRange(
                    otio.opentime.RationalTime(slot.start, 24),
                    otio.opentime.RationalTime(slot.frames, 24),
                ),
            )
            track.append(clip)
        elif isinstance(slot, Blank):
            track.append(otio.schema.Gap(duration=otio.opentime.RationalTime(slot.frames, 24)))
        else:
            track.append(transition(slot))
    return track


CUTS = {
    # a crossfade of 12 frames, then a wipe of 13 (odd: the halves differ)
    "overlaps": ([piece(0, 96), piece(6, 72, join="overlap", overlap=12),
                  piece(0, 48, join="overlap", xfade="wipeleft", overlap=13)],
                 ["cut", "crossfade", "wipeleft"]),
    # through black: 12 frames out of the first, 12 into the second (a 1 s fade)
    "fade": ([piece(0, 60, fade_out=12), piece(12, 96, join="fade", fade_in=12)],
             ["cut", "fade"]),
    # a fade of one frame: nothing fades out, the one frame fades in
    "one-frame fade": ([piece(0, 30), piece(0, 30, join="fade", fade_in=1)], ["cut", "fade"]),
    # an odd fade (5 frames: 2 out, 3 in), after an opening fade from black of 7
    "opening": ([piece(0, 40, fade_in=7, fade_out=2), piece(0, 40, join="fade", fade_in=3)],
                ["fade", "fade"]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CUTS))
def test_a_laid_out_cut_lasts_the_film_and_shows_each_trim(name: str) -> None:
    pieces, kinds = CUTS[name]
    slots = lay_out(pieces, kinds)
    assert length(slots) == film_frames(pieces)
    track = track_of(slots)
    assert track.duration().to_frames() == film_frames(pieces)
    clips = [c for c in track if isinstance(c, otio.schema.Clip)]
    assert len(clips) == len(pieces)
    for clip, p in zip(clips, pieces, strict=True):
        shown = clip.visible_range()
        assert shown.start_time.to_frames() == p.start
        assert shown.duration.to_frames() == p.frames
    # Each transition spans the frames the film spends on it.
    joins = [s for s in slots if isinstance(s, Join)]
    spent = [p.overlap for p in pieces if p.join == "overlap"]
    spent += [f for p in pieces for f in (p.fade_in, p.fade_out) if f and p.join != "overlap"]
    assert sorted(j.frames for j in joins) == sorted(spent)
    assert all(j.in_offset >= 0 and j.out_offset >= 0 for j in joins)
    assert all(b.frames > 0 for b in slots if isinstance(b, Blank))


def test_fades_through_black_go_through_a_gap_where_the_film_is_black() -> None:
    pieces, kinds = CUTS["fade"]
    track = track_of(lay_out(pieces, kinds))
    gap = next(i for i in track if isinstance(i, otio.schema.Gap))
    out_of, into = [i for i in track if isinstance(i, otio.schema.Transition)]
    # The fade out ends, and the fade in starts, at the film frame 60 (where the
    # first piece ends): 48..60 fades out, 60..72 fades in.
    assert track.range_of_child(out_of).start_time.to_frames() == 48
    assert track.range_of_child(out_of).end_time_exclusive().to_frames() == 60
    assert track.range_of_child(into).start_time.to_frames() == 60
    assert track.range_of_child(into).end_time_exclusive().to_frames() == 72
    assert track.range_of_child(gap).duration.to_frames() == 12


def test_the_sound_track_is_silent_where_a_clip_has_no_sound() -> None:
    pieces, kinds = CUTS["overlaps"]
    slots = silenced(lay_out(pieces, kinds), [True, False, False])
    assert length(slots) == film_frames(pieces)
    # The crossfade into the silent clip stays (a fade to silence); the wipe between
    # two silent clips is gone, the silences merged into one.
    assert [type(s).__name__ for s in slots] == ["Span", "Join", "Blank"]


@pytest.mark.parametrize(
    ("media", "film", "loop", "fades", "shape"),
    [
        (100, 250, True, (0, 0), ["Span", "Span", "Span"]),
        (100, 250, False, (0, 0), ["Span", "Blank"]),
        # fades inside the first and the last play: transitions to and from silence
        (100, 250, True, (24, 24), ["Blank", "Join", "Span", "Span", "Span", "Join", "Blank"]),
        # the last play (50 frames) is all fade: the fade is left to the metadata
        (100, 250, True, (0, 50), ["Span", "Span", "Span"]),
        # the music ends before the film: its fade out would fall on silence
        (100, 250, False, (0, 24), ["Span", "Blank"]),
    ],
)
def test_the_music_bed_loops_as_clips_and_fades_inside_a_play(
    media: int, film: int, loop: bool, fades: tuple[int, int], shape: list[str]
) -> None:
    slots = lay_bed(media, film, loop=loop, fade_in=fades[0], fade_out=fades[1])
    assert [type(s).__name__ for s in slots] == shape
    assert length(slots) == film
    assert all(isinstance(s, Join) or s.frames > 0 for s in slots)
    track = track_of(slots)
    for clip in (c for c in track if isinstance(c, otio.schema.Clip)):
        shown = clip.visible_range()
        assert shown.start_time.to_frames() >= 0
        assert shown.end_time_exclusive().to_frames() <= media
