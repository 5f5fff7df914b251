"""Cut planning, the parts that do not probe: frames, trims, joins, lengths, stills.

Pure: a clip's probe is a `MediaInfo` written here, pieces and plans are built
in code, and nothing runs ffmpeg or opens a file. `plan_cut` itself probes
(tests/film/test_stitch.py runs it on real clips); what it does with the
probes is the private steps tested here, one at a time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from storyboard.errors import StitchError
from storyboard.film import cutplan
from storyboard.film.cutplan import CutClip, CutPlan, ShotMark, stills
from storyboard.film.graph import Join, Piece
from storyboard.film.verify import Still
from storyboard.language.montage import Transition
from storyboard.media import MediaInfo

CLIP = Path("clips/a.mp4")


def into(kind: str, seconds: float) -> Transition:
    """The transition leading into a clip (the one place its type is named)."""
    return Transition(kind, seconds)


def info(seconds: float = 5.0, *, fps: float = 24.0, frames: int | None = 120) -> MediaInfo:
    return MediaInfo(
        CLIP, "mp4", seconds, 1000, 640, 360, fps, "h264", "yuv420p", seconds, frames, True
    )


def clip(label: str = "a", trim: tuple[float, float] | None = None) -> CutClip:
    return CutClip(CLIP, label, trim, into("cut", 0.0))


def piece(
    frames: int = 120,
    *,
    join: Join = "cut",
    xfade: str = "fade",
    overlap: int = 0,
    fade_in: int = 0,
) -> Piece:
    return Piece(CLIP, (640, 360), True, 0, frames, join, xfade, overlap, fade_in)


def test_a_clip_holds_its_frame_count_when_it_agrees_with_its_duration() -> None:
    assert cutplan.clip_frames(info(5.0, frames=120)) == 120
    # Less than a frame apart: the count is exact (the duration alone would say 119).
    assert cutplan.clip_frames(info(4.97, frames=120)) == 120
    assert cutplan.clip_frames(info(5.0, frames=119)) == 120  # a whole frame apart: duration
    assert cutplan.clip_frames(info(5.0, frames=100)) == 120  # disagrees: its duration
    assert cutplan.clip_frames(info(5.02, fps=30.0, frames=150)) == 120  # other rate
    assert cutplan.clip_frames(info(2.51, frames=None)) == 60


def test_trims_become_whole_frames_and_impossible_trims_are_refused() -> None:
    kept = cutplan._piece(clip(trim=(0.5, 2.0)), info())
    assert (kept.start, kept.frames, kept.size, kept.has_audio) == (12, 36, (640, 360), True)
    whole = cutplan._piece(clip(), info())
    assert (whole.start, whole.frames) == (0, 120)
    refusals = {
        (2.0, 1.0): "clip 'a': trim [2.0, 1.0] is not a span of time",
        (-1.0, 1.0): "clip 'a': trim [-1.0, 1.0] is not a span of time",
        (1.0, 1.01): "clip 'a': trim [1.0, 1.01] keeps no whole frame",
        (1.0, 6.0): "clip 'a': trim ends at 6.000 s, past the clip's end (5.000 s)",
    }
    for trim, message in refusals.items():
        with pytest.raises(StitchError) as caught:
            cutplan._piece(clip(trim=trim), info())
        assert str(caught.value) == message


def test_each_transition_becomes_its_join() -> None:
    head, before = piece(), piece()
    enter = cutplan._enter
    assert enter(head, before, into("cut", 0.0), "a") == head
    assert enter(head, before, into("crossfade", 0.0), "a") == head  # no frame: a cut
    assert enter(head, None, into("crossfade", 0.5), "a") == piece(fade_in=12)  # from black
    assert enter(head, before, into("crossfade", 0.5), "a") == piece(
        join="overlap", xfade="fade", overlap=12
    )
    assert enter(head, before, into("wipeleft", 0.25), "a") == piece(
        join="overlap", xfade="wipeleft", overlap=6
    )
    # Through black: this clip fades in over the second half (the larger, when odd);
    # plan_cut gives the previous clip the first half as its fade out.
    assert enter(head, before, into("fade", 1.0), "a") == piece(join="fade", fade_in=12)
    assert enter(head, before, into("fade", 0.375), "a") == piece(join="fade", fade_in=5)


def test_unknown_or_negative_transitions_are_refused() -> None:
    with pytest.raises(StitchError, match=r"^clip 'b': unknown transition 'spin'$"):
        cutplan._enter(piece(), piece(), into("spin", 0.5), "b")
    with pytest.raises(StitchError, match=r"^clip 'b': the fade lasts -1\.0 s$"):
        cutplan._enter(piece(), piece(), into("fade", -1.0), "b")


def test_every_xfade_of_the_schema_is_known_and_the_languages_own_are_not_xfades() -> None:
    assert {"wipeleft", "circleopen", "dissolve"} <= cutplan.XFADES
    assert not {"cut", "fade", "crossfade"} & cutplan.XFADES


def test_a_clip_must_hold_the_transitions_at_both_its_ends() -> None:
    clips = [
        CutClip(CLIP, "a", None, into("cut", 0.0)),
        CutClip(CLIP, "b", None, into("crossfade", 0.5)),
        CutClip(CLIP, "c", None, into("crossfade", 0.5)),
    ]
    fits = [piece(48), piece(24, join="overlap", overlap=12), piece(48, join="overlap", overlap=12)]
    cutplan._check_lengths(fits, clips)  # 12 frames in, 12 out: exactly b's 24
    short = [fits[0], piece(23, join="overlap", overlap=12), fits[2]]
    with pytest.raises(StitchError) as caught:
        cutplan._check_lengths(short, clips)
    assert str(caught.value) == (
        "clip 'b' lasts 0.958 s, shorter than the crossfade into it (0.500 s) "
        "and the crossfade out of it (0.500 s)"
    )


def test_the_films_size_is_the_first_clips_made_even_or_a_given_even_size() -> None:
    odd = MediaInfo(CLIP, "mp4", 5.0, 1000, 641, 361, 24.0, "h264", "yuv420p", 5.0, 120)
    assert cutplan._film_size(None, odd) == (640, 360)
    assert cutplan._film_size((1280, 720), odd) == (1280, 720)
    for size in ((1281, 720), (0, 720), (1280, -2)):
        with pytest.raises(StitchError, match="both sides must be positive and even"):
            cutplan._film_size(size, odd)


def test_stills_are_a_thumbnail_per_shot_and_the_middle_of_the_longest_shot() -> None:
    other = Path("clips/b.mp4")
    marks = (ShotMark("a1", 0.0, 2.0), ShotMark("a2", 2.0, 3.0), ShotMark("late", 5.0, 1.0))
    plan = CutPlan(
        clips=(
            CutClip(CLIP, "a", None, into("cut", 0.0), marks),
            CutClip(other, "b", (0.5, 2.5), into("crossfade", 0.5)),
        ),
        pieces=(piece(120), Piece(other, (640, 360), True, 12, 48, "overlap", "fade", 12)),
        size=(640, 360),
        starts=(0, 108),
        frames=156,
        copy=False,
        reason="a crossfade leads into clip 'b'",
    )
    thumbs, poster = stills(plan)
    assert thumbs == [
        Still("a1", CLIP, 1.0, 24),  # a second in (less for a shot under two)
        Still("a2", CLIP, 3.0, 72),
        # "late" starts where clip a ends: it is not in the film
        Still("b", other, 1.5, 132),  # a clip without marks is one shot; trimmed 0.5 s in
    ]
    assert poster == Still("poster", CLIP, 3.5, 84)  # the middle of a2, the longest


def test_a_still_never_falls_past_the_films_last_frame() -> None:
    plan = CutPlan(
        clips=(CutClip(CLIP, "a", None, into("cut", 0.0), (ShotMark("a", 0.0, 0.1),)),),
        pieces=(piece(2),),
        size=(640, 360),
        starts=(0,),
        frames=2,
        copy=True,
        reason="",
    )
    thumbs, poster = stills(plan)
    assert [t.film_frame for t in thumbs] == [1]
    assert poster.film_frame == 1
