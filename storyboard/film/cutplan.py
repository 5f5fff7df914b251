"""The cut, normalised once: clips probed, trims and transitions in whole frames.

Everything later (the filter graph, the verification, the stills) works on a
`CutPlan` and never re-checks the cut: every impossibility (a missing or
unreadable clip, a trim past a clip's end, a transition longer than the clip
that must hold it, an unknown transition) is a `StitchError` here, before
ffmpeg starts. Times become whole frames at 24 fps, so the film's length and
every cut's time are integer arithmetic: the clips' frames less the overlaps.

Transitions: `fade` goes through black without overlap (the previous clip
fades out over the first half, this one in over the second); `crossfade`
(xfade `fade`) and the named xfade transitions overlap by their duration. On
the first clip any transition is a fade in from black.

This is also where the cut earns a stream copy: hard cuts only, no trims,
and clips whose pictures agree (H.264, yuv420p, 24 fps, the film's size,
identical parameter sets, each starting on a keyframe). Sound never decides
it: it is rebuilt either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from storyboard.errors import ProbeError, StitchError
from storyboard.film.cut import CutClip, ShotMark
from storyboard.film.graph import FPS, Piece, film_frames
from storyboard.film.verify import Still
from storyboard.language.montage import Transition
from storyboard.language.schema import storyboard_schema
from storyboard.media import MediaInfo, probe, video_packets

FRAME = 1 / FPS
FILM_CODEC = "h264"
FILM_PIXELS = "yuv420p"
# Thumbnails: one per shot, a little way into it (its middle, at most this far
# in): representative, and cheap to reach from the shot's keyframe.
THUMB_INTO_SHOT = 1.0
# The transitions of the language: these two, "cut", and every ffmpeg xfade
# transition the schema names (overlapping, like "crossfade").
OVERLAPPING = "crossfade"
THROUGH_BLACK = "fade"
XFADES = frozenset(storyboard_schema()["$defs"]["transition"]["properties"]["type"]["enum"]) - {
    "cut",
    THROUGH_BLACK,
    OVERLAPPING,
}


@dataclass(frozen=True)
class CutPlan:
    """The cut normalised: pieces in whole frames and how the film will be made."""

    clips: tuple[CutClip, ...]
    pieces: tuple[Piece, ...]
    size: tuple[int, int]
    starts: tuple[int, ...]  # the film frame where each piece begins
    frames: int
    copy: bool
    reason: str
    infos: tuple[MediaInfo, ...] = ()  # each clip's probe, in cut order


def _frames(seconds: float) -> int:
    return round(seconds * FPS)


def _probe_clip(clip: CutClip) -> MediaInfo:
    try:
        info = probe(clip.path)
    except ProbeError as exc:
        raise StitchError(f"clip {clip.label!r}: {exc}") from exc
    if not info.has_video or not info.width or not info.height:
        raise StitchError(f"clip {clip.label!r} ({clip.path}) has no picture")
    return info


def clip_frames(info: MediaInfo) -> int:
    """Frames the clip holds at 24 fps: its frame count when that agrees with its
    duration (exact), else its duration in frames."""
    seconds = info.video_duration or info.duration
    if info.frames and abs(info.fps - FPS) < 0.01 and abs(info.frames / FPS - seconds) < FRAME:
        return info.frames
    return _frames(seconds)


def _film_size(size: tuple[int, int] | None, first: MediaInfo) -> tuple[int, int]:
    if size is None:  # yuv420p needs even sides
        return first.width // 2 * 2, first.height // 2 * 2
    w, h = size
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise StitchError(f"film size {w}x{h}: both sides must be positive and even")
    return w, h


def _piece(clip: CutClip, info: MediaInfo) -> Piece:
    held = clip_frames(info)
    start, frames = 0, held
    if clip.trim is not None:
        lo, hi = clip.trim
        if lo < 0 or hi <= lo:
            raise StitchError(f"clip {clip.label!r}: trim [{lo}, {hi}] is not a span of time")
        start, frames = _frames(lo), _frames(hi) - _frames(lo)
        if frames < 1:
            raise StitchError(f"clip {clip.label!r}: trim [{lo}, {hi}] keeps no whole frame")
        if start + frames > held:
            raise StitchError(
                f"clip {clip.label!r}: trim ends at {hi:.3f} s, "
                f"past the clip's end ({held / FPS:.3f} s)"
            )
    size = (info.width, info.height)
    return Piece(clip.path, size, info.has_audio, start=start, frames=frames)


def _enter(piece: Piece, previous: Piece | None, transition: Transition, label: str) -> Piece:
    """Apply the transition into `piece` (and the fade-out it asks of `previous`)."""
    kind, seconds = transition.type, transition.duration
    if kind != "cut" and kind not in (THROUGH_BLACK, OVERLAPPING) and kind not in XFADES:
        raise StitchError(f"clip {label!r}: unknown transition {kind!r}")
    if seconds < 0:
        raise StitchError(f"clip {label!r}: the {kind} lasts {seconds} s")
    frames = _frames(seconds)
    if kind == "cut" or frames == 0:
        return piece
    if previous is None:  # the film opens on a fade from black
        return replace(piece, fade_in=frames)
    if kind == THROUGH_BLACK:
        return replace(piece, join="fade", fade_in=frames - frames // 2)
    name = "fade" if kind == OVERLAPPING else kind
    return replace(piece, join="overlap", xfade=name, overlap=frames)


def _check_lengths(pieces: list[Piece], clips: Sequence[CutClip]) -> None:
    """Each clip must hold its transitions: what overlaps or fades at its head
    and at its tail together fit in its length."""
    for i, (piece, clip) in enumerate(zip(pieces, clips, strict=True)):
        after = pieces[i + 1] if i + 1 < len(pieces) else None
        head = piece.overlap + piece.fade_in
        tail = piece.fade_out + (after.overlap if after else 0)
        if head + tail > piece.frames:
            into = f"{clip.transition.type} into it ({head / FPS:.3f} s)" if head else ""
            nxt = clips[i + 1].transition.type if after else ""
            out_of = f"{nxt} out of it ({tail / FPS:.3f} s)" if tail else ""
            spans = " and the ".join(x for x in (into, out_of) if x)
            raise StitchError(
                f"clip {clip.label!r} lasts {piece.frames / FPS:.3f} s, shorter than the {spans}"
            )


def plan_cut(clips: Sequence[CutClip], size: tuple[int, int] | None) -> CutPlan:
    """Normalise the cut for a film of `size` (None: the first clip's)."""
    if not clips:
        raise StitchError("nothing to stitch: the cut is empty")
    infos = [_probe_clip(c) for c in clips]
    film_size = _film_size(size, infos[0])
    pieces: list[Piece] = []
    for clip, info in zip(clips, infos, strict=True):
        previous = pieces[-1] if pieces else None
        piece = _enter(_piece(clip, info), previous, clip.transition, clip.label)
        if previous is not None and piece.join == "fade":
            pieces[-1] = replace(previous, fade_out=_frames(clip.transition.duration) // 2)
        pieces.append(piece)
    _check_lengths(pieces, clips)
    starts, at = [], 0
    for piece in pieces:
        at -= piece.overlap
        starts.append(at)
        at += piece.frames
    reason = _why_encode(clips, infos, pieces, film_size)
    return CutPlan(
        clips=tuple(clips),
        pieces=tuple(pieces),
        size=film_size,
        starts=tuple(starts),
        frames=film_frames(pieces),
        copy=reason is None,
        reason=reason or "hard cuts of clips that share codec, size, fps and parameter sets",
        infos=tuple(infos),
    )


def _why_encode(
    clips: Sequence[CutClip],
    infos: Sequence[MediaInfo],
    pieces: Sequence[Piece],
    size: tuple[int, int],
) -> str | None:
    """Why the video cannot be stream-copied, or None when it can."""
    for clip, info, piece in zip(clips, infos, pieces, strict=True):
        name = repr(clip.label)
        if piece is pieces[0] and piece.fade_in:
            return f"the film opens on a fade from black into clip {name}"
        if piece.join != "cut" or piece.fade_in or piece.fade_out:
            return f"a {clip.transition.type} leads into clip {name}"
        if clip.trim is not None:
            return f"clip {name} is trimmed"
        if info.video_codec != FILM_CODEC or info.pix_fmt != FILM_PIXELS:
            return f"clip {name} is {info.video_codec}/{info.pix_fmt}, the film H.264/yuv420p"
        if abs(info.fps - FPS) > 0.001:
            return f"clip {name} plays at {info.fps:.3f} fps, the film at {FPS}"
        if (info.width, info.height) != size:
            return f"clip {name} is {info.width}x{info.height}, the film {size[0]}x{size[1]}"
    heads = []
    for clip in clips:
        try:
            heads.append(video_packets(clip.path, limit=1))
        except ProbeError as exc:
            raise StitchError(f"clip {clip.label!r}: {exc}") from exc
    for clip, head in zip(clips, heads, strict=True):
        if not head.keyframe_first:
            return f"clip {clip.label!r} does not start on a keyframe"
        if head.extradata != heads[0].extradata:
            return f"clip {clip.label!r} was encoded with other parameters than the first"
    return None


def _marks(plan: CutPlan, i: int) -> tuple[ShotMark, ...]:
    clip, piece = plan.clips[i], plan.pieces[i]
    length = piece.frames / FPS
    marks = [m for m in clip.shots if m.start < length] or [ShotMark(clip.label, 0.0, length)]
    return tuple(marks)


def _still(plan: CutPlan, i: int, into: float, label: str) -> Still:
    """The frame `into` seconds into piece `i`, in its clip and in the film."""
    frame = min(plan.frames - 1, plan.starts[i] + _frames(into))
    return Still(label, plan.clips[i].path, plan.pieces[i].start / FPS + into, frame)


def stills(plan: CutPlan) -> tuple[list[Still], Still]:
    """A thumbnail per shot, a little way into it, and the poster: the middle of the
    film's longest shot (the first of equals)."""
    thumbs, longest = [], None
    for i in range(len(plan.pieces)):
        for mark in _marks(plan, i):
            into = mark.start + min(mark.duration / 2, THUMB_INTO_SHOT)
            thumbs.append(_still(plan, i, into, mark.label))
            if longest is None or mark.duration > longest[1].duration:
                longest = (i, mark)
    assert longest is not None  # a plan has at least one piece, a piece one mark
    i, mark = longest
    into = mark.start + min(mark.duration, plan.pieces[i].frames / FPS - mark.start) / 2
    return thumbs, _still(plan, i, into, "poster")
