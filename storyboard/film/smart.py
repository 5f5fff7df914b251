"""Smart render: re-encode only the frames a transition, trim, resize or fade
touches, and copy every other GOP of the clips packet for packet.

How, and why this way:
- **Copy spans are whole closed GOPs.** In each piece the frames shown untouched
  are those between what overlaps or fades at its head and at its tail. A copy
  span starts on the first keyframe (IDR) at or after that stretch's start and
  ends on a later keyframe, or the clip's end, at or before its end: nothing
  in it refers to a picture outside it, so it decodes the same in the film.
  Only clips whose pictures are the film's (H.264, yuv420p, 24 fps, its size,
  one packet a frame, closed GOPs) have copy spans.
- **Everything else is re-encoded** in segments, each a maximal stretch of the
  film outside the copy spans, built by the full path's own graph from the
  pieces restricted to it. Segments are independent: they are encoded in
  parallel, one ffmpeg each.
- **Parameter sets are proven, not assumed.** A decoder meets the segments'
  pictures with the clips' SPS/PPS, so the copied clips must share one set and
  the segments must come out with exactly that set: x264's options in the
  clips' first picture name its preset (by `subme`) and `crf`; a one-frame
  probe encoded with them must give the clips' extradata byte for byte, and so
  must every segment. Otherwise the film is re-encoded whole, and the reason
  says why.
- **Spliced, then sound added** (`storyboard.media.probing.splice_video`): the
  copy spans' packets and the segments' in film order, each part rebased to
  its film frame; then one ffmpeg run puts the film's sound under it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from storyboard.errors import FFmpegError, ProbeError, StitchError
from storyboard.film.cutplan import FILM_CODEC, FILM_PIXELS, CutPlan
from storyboard.film.graph import FPS, X264, Piece, film_frames, segment_args
from storyboard.film.verify import Copied, Still
from storyboard.media import MediaInfo, awaited, run_ffmpeg
from storyboard.media.probing import CodedVideo, SplicePart, coded_video, splice_video

# x264's presets as its options line names them: each preset's `subme`.
SUBME_PRESETS = {
    0: "ultrafast",
    1: "superfast",
    2: "veryfast",
    4: "faster",
    6: "fast",
    7: "medium",
    8: "slow",
    9: "slower",
    10: "veryslow",
    11: "placebo",
}
NOT_POSSIBLE = "smart render not possible"


@dataclass(frozen=True)
class Span:
    """Frames `first` to `first + frames` of the film, copied from packets
    `packet` onwards (decode order) of piece `piece`'s clip."""

    piece: int
    first: int
    frames: int
    packet: int


@dataclass(frozen=True)
class Segment:
    """Frames `first` to `first + frames` of the film, re-encoded from `pieces`."""

    first: int
    frames: int
    pieces: tuple[Piece, ...]


@dataclass(frozen=True)
class SmartPlan:
    """Which frames are copied and which re-encoded; `videos` the clips' packets."""

    spans: tuple[Span, ...]
    segments: tuple[Segment, ...]
    videos: dict[Path, CodedVideo]


@dataclass(frozen=True)
class Prepared:
    """A smart render that can go ahead: its plan and the x264 settings whose
    parameter sets are the copied clips' (proven on a one-frame probe)."""

    smart: SmartPlan
    x264: X264


@dataclass(frozen=True)
class SmartVideo:
    """The film's picture spliced at `path`, and what verification and stills need:
    every part's packets in film order, the segment files, the stills' sources."""

    path: Path
    parts: tuple[Copied, ...]
    segments: tuple[Path, ...]
    stills: tuple[Still, ...]
    poster: Still
    reason: str


# --- which frames are copied (pure) --------------------------------------------------


def _options(video: CodedVideo) -> dict[str, str]:
    return dict(token.partition("=")[::2] for token in video.x264_options.split())


def _keyframes(video: CodedVideo) -> list[int] | None:
    """The frames where the clip's closed GOPs start, or None when its packets are
    not one picture a frame at 24 fps, or a GOP refers back past its keyframe."""
    packets = video.packets
    if not packets:
        return None
    first = min(p.pts for p in packets)
    shown = [round((p.pts - first) * video.time_base * FPS) for p in packets]
    if sorted(shown) != list(range(len(shown))):
        return None
    options = _options(video)
    reordered = shown != sorted(shown)
    if reordered and options.get("open_gop") != "0" and options.get("bframes") != "0":
        return None  # B-frames, and nothing says the GOPs are closed
    keys = [d for d, p in enumerate(packets) if p.keyframe]
    if not keys or keys[0] != 0:
        return None
    before = [-1]  # the latest frame shown by packets 0..d-1
    for frame in shown:
        before.append(max(before[-1], frame))
    after = [len(shown)] * (len(shown) + 1)  # the earliest frame shown by packets d..
    for d in range(len(shown) - 1, -1, -1):
        after[d] = min(after[d + 1], shown[d])
    if any(before[d] != d - 1 or after[d] != d for d in keys):
        return None
    return keys


def _fits(info: MediaInfo, size: tuple[int, int]) -> bool:
    return (
        info.video_codec == FILM_CODEC
        and info.pix_fmt == FILM_PIXELS
        and abs(info.fps - FPS) <= 0.001
        and (info.width, info.height) == size
    )


def _span(plan: CutPlan, i: int, keys: list[int], held: int) -> Span | None:
    """Piece `i`'s copy span: the whole GOPs inside its untouched frames."""
    piece = plan.pieces[i]
    after = plan.pieces[i + 1] if i + 1 < len(plan.pieces) else None
    lo = piece.start + piece.overlap + piece.fade_in
    hi = piece.start + piece.frames - piece.fade_out - (after.overlap if after else 0)
    start = next((k for k in keys if k >= lo), None)
    ends = [e for e in [*keys, held] if start is not None and start < e <= hi]
    if start is None or not ends:
        return None
    end = max(ends)
    return Span(i, plan.starts[i] + start - piece.start, end - start, start)


def _restricted(plan: CutPlan, first: int, end: int) -> tuple[Piece, ...]:
    """The pieces as film frames `first` to `end` show them: trimmed to the stretch,
    keeping a join, overlap or fade only where the stretch holds it whole."""
    pieces: list[Piece] = []
    for piece, start in zip(plan.pieces, plan.starts, strict=True):
        lo, hi = max(first, start), min(end, start + piece.frames)
        if lo >= hi:
            continue
        head, tail = lo == start, hi == start + piece.frames
        joined = head and bool(pieces)
        pieces.append(
            replace(
                piece,
                start=piece.start + lo - start,
                frames=hi - lo,
                join=piece.join if joined else "cut",
                overlap=piece.overlap if joined else 0,
                fade_in=piece.fade_in if head else 0,
                fade_out=piece.fade_out if tail else 0,
            )
        )
    if film_frames(pieces) != end - first:
        raise StitchError(f"smart render: frames {first}-{end} cut through a transition")
    return tuple(pieces)


def plan_smart(plan: CutPlan, videos: dict[Path, CodedVideo]) -> SmartPlan | str:
    """Copy spans and segments for the cut, given the packets of the clips that may
    be copied (`videos`); a string says why nothing can be."""
    spans = []
    for i, (clip, info) in enumerate(zip(plan.clips, plan.infos, strict=True)):
        video = videos.get(clip.path)
        if video is None or not _fits(info, plan.size) or info.frames != len(video.packets):
            continue  # not the film's picture, or not one packet a frame
        keys = _keyframes(video)
        if keys is None:
            continue
        span = _span(plan, i, keys, len(video.packets))
        if span is not None:
            spans.append(span)
    if not spans:
        return f"{NOT_POSSIBLE}: no clip has a whole GOP that no transition, trim or fade touches"
    first = spans[0].piece
    for span in spans:
        extradata = videos[plan.clips[span.piece].path].extradata
        if extradata != videos[plan.clips[first].path].extradata:
            return (
                f"{NOT_POSSIBLE}: clip {plan.clips[span.piece].label!r} was encoded with "
                f"other H.264 parameters than {plan.clips[first].label!r}"
            )
    segments, at = [], 0
    for span in [*spans, Span(-1, plan.frames, 0, 0)]:
        if span.first > at:
            pieces = _restricted(plan, at, span.first)
            segments.append(Segment(at, span.first - at, pieces))
        at = span.first + span.frames
    return SmartPlan(tuple(spans), tuple(segments), videos)


def candidates(video: CodedVideo, film: X264) -> list[X264]:
    """The x264 settings that may reproduce `video`'s parameter sets: those its
    options line names, then the film's own."""
    options = _options(video)
    found = []
    preset = (
        SUBME_PRESETS.get(int(options["subme"])) if options.get("subme", "").isdigit() else None
    )
    keyint = int(options["keyint"]) if options.get("keyint", "").isdigit() else None
    if preset and options.get("rc") == "crf" and "crf" in options:
        crf = f"{float(options['crf']):g}"
        found.append(X264(preset, crf, keyint))
    if replace(film, keyint=keyint) not in found:
        found.append(replace(film, keyint=keyint))
    return found


# --- making it (effects) -------------------------------------------------------------


def prepare(plan: CutPlan, film: X264, work: Path, timeout: float) -> Prepared | str:
    """What to copy and how to re-encode the rest, or why it cannot be done (quick:
    the clips' packets are read, not decoded, and the probe is one frame)."""
    videos = {}
    for clip, info in zip(plan.clips, plan.infos, strict=True):
        if _fits(info, plan.size) and clip.path not in videos:
            try:
                videos[clip.path] = coded_video(clip.path)
            except ProbeError as exc:
                raise StitchError(f"clip {clip.label!r}: {exc}") from exc
    smart = plan_smart(plan, videos)
    if isinstance(smart, str):
        return smart
    source = plan.clips[smart.spans[0].piece]
    # Nothing to re-encode (trims on keyframes, say): the copied clips alone must agree.
    x264 = _matching_encoder(plan, smart, film, work, timeout) if smart.segments else film
    if x264 is None:
        return (
            f"{NOT_POSSIBLE}: x264 cannot be made to reproduce the H.264 parameters of "
            f"clip {source.label!r}"
        )
    return Prepared(smart, x264)


def smart_video(
    plan: CutPlan,
    prepared: Prepared,
    stills: Sequence[Still],
    poster: Still,
    work: Path,
    timeout: float,
) -> SmartVideo | str:
    """Re-encode the segments (in parallel) and splice the film's picture into
    `work`, or say why the result cannot be used."""
    smart, videos = prepared.smart, prepared.smart.videos
    extradata = videos[plan.clips[smart.spans[0].piece].path].extradata
    files = _encode_segments(plan, smart, prepared.x264, work, timeout)
    by_first: dict[int, tuple[Copied, SplicePart]] = {}
    for span in smart.spans:
        clip = plan.clips[span.piece]
        packets = videos[clip.path].packets[span.packet : span.packet + span.frames]
        copied = Copied(clip.label, span.frames, tuple(p.digest for p in packets))
        by_first[span.first] = (
            copied,
            SplicePart(clip.path, span.packet, span.frames, _at(span.first)),
        )
    for segment, path in zip(smart.segments, files, strict=True):
        coded = _coded(path)
        if coded.extradata != extradata or len(coded.packets) != segment.frames:
            return f"{NOT_POSSIBLE}: a re-encoded stretch came out unlike the copied clips"
        what = f"frames {segment.first}-{segment.first + segment.frames - 1}"
        copied = Copied(what, segment.frames, tuple(p.digest for p in coded.packets), "re-encoded")
        by_first[segment.first] = copied, SplicePart(path, 0, segment.frames, _at(segment.first))
    parts = [by_first[n][0] for n in sorted(by_first)]
    splices = [by_first[n][1] for n in sorted(by_first)]
    out = work / "picture.mp4"
    try:
        trouble = splice_video(splices, out, rate=FPS)
    except ProbeError as exc:
        raise StitchError(str(exc)) from exc
    if trouble:
        return f"{NOT_POSSIBLE}: {trouble}"
    where = _sources(plan, smart, files)
    return SmartVideo(
        out,
        tuple(parts),
        tuple(files),
        tuple(where(s) for s in stills),
        where(poster),
        _reason(plan, smart),
    )


def _at(frame: int) -> Fraction:
    return Fraction(frame, FPS)


def _coded(path: Path) -> CodedVideo:
    try:
        return coded_video(path)
    except ProbeError as exc:
        raise StitchError(str(exc)) from exc


def _encode(
    pieces: Sequence[Piece], size: tuple[int, int], x264: X264, out: Path, timeout: float
) -> Path:
    try:
        run_ffmpeg(segment_args(pieces, size, x264, out), timeout=timeout)
    except FFmpegError as exc:
        raise StitchError(f"ffmpeg could not re-encode a stretch of the film: {exc}") from exc
    return out


def _matching_encoder(
    plan: CutPlan, smart: SmartPlan, film: X264, work: Path, timeout: float
) -> X264 | None:
    """The first candidate whose one-frame probe has the clips' extradata."""
    span = smart.spans[0]
    piece = plan.pieces[span.piece]
    frame = replace(
        piece, start=span.packet, frames=1, join="cut", overlap=0, fade_in=0, fade_out=0
    )
    video = smart.videos[piece.path]
    for n, x264 in enumerate(candidates(video, film)):
        probe = _encode([frame], plan.size, x264, work / f"probe{n}.mp4", timeout)
        if _coded(probe).extradata == video.extradata:
            return x264
    return None


def _encode_segments(
    plan: CutPlan, smart: SmartPlan, x264: X264, work: Path, timeout: float
) -> list[Path]:
    """Every segment encoded, in parallel (each ffmpeg run on its own)."""
    if not smart.segments:
        return []
    with ThreadPoolExecutor(min(len(smart.segments), os.cpu_count() or 1)) as pool:
        jobs = [
            pool.submit(_encode, s.pieces, plan.size, x264, work / f"segment{n:03d}.mp4", timeout)
            for n, s in enumerate(smart.segments)
        ]
        return [awaited(job) for job in jobs]


def _sources(plan: CutPlan, smart: SmartPlan, files: Sequence[Path]) -> Callable[[Still], Still]:
    """Where a film frame can be read: its clip inside a copy span, else its segment."""

    def where(still: Still) -> Still:
        n = still.film_frame
        for span in smart.spans:
            if span.first <= n < span.first + span.frames:
                path = plan.clips[span.piece].path
                return replace(still, clip=path, clip_time=(span.packet + n - span.first) / FPS)
        for segment, path in zip(smart.segments, files, strict=True):
            if segment.first <= n < segment.first + segment.frames:
                return replace(still, clip=path, clip_time=(n - segment.first) / FPS)
        raise StitchError(f"smart render: film frame {n} is neither copied nor re-encoded")

    return where


def _reason(plan: CutPlan, smart: SmartPlan) -> str:
    copied = sum(s.frames for s in smart.spans)
    encoded = plan.frames - copied
    touched = 0
    for i, piece in enumerate(plan.pieces):
        held = sum(s.frames for s in smart.spans if s.piece == i)
        touched += held < piece.frames
    return (
        f"{touched} of {len(plan.pieces)} clips' spans re-encoded ({encoded} frames), "
        f"{copied} frames copied"
    )
