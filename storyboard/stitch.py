"""The stitch stage: the cut's clips become one film, verified, with a poster and
a contact sheet beside it.

How, and why this way:
- **Normalise once.** `_plan` probes every clip and turns trims and
  transitions into whole frames at 24 fps, raising `StitchError` for anything
  impossible before ffmpeg starts. The film's expected length is arithmetic on
  those frames (trimmed lengths less overlaps), and so is every cut's time.
- **As fast as the cut allows.** Hard cuts of clips whose pictures agree
  (H.264, yuv420p, 24 fps, the film's size, identical parameter sets, each
  starting on a keyframe) copy the video packet for packet. The sound is never
  copied: a plain `-c copy` concat drifts by each clip's AAC priming and
  padding (~35 ms a cut, 0.36 s after 12 clips), so every clip's sound is cut
  to its picture's length to the sample and encoded once. That costs what the
  audio encode costs and keeps every cut within a millisecond or two. Music
  only touches the sound, so it does not force a re-encode either.
  Anything else is one filter graph (`storyboard.filmgraph`).
- **Loudness** is measured first (a sound-only pass, a few hundredths of the
  film's length) and applied as one gain in the film's run, EBU R128 style
  (like loudnorm's two-pass linear mode): the mix is not compressed, and a
  limiter is added only when the gain would push peaks past the ceiling.
- **Verified before it is called done**: the probed film must last the cut's
  arithmetic to the frame, its sound and picture must end within one frame of
  each other, it must play at 24 fps with sound, and it must decode. Every
  stream ffmpeg encoded is decoded in full (ffmpeg's multithreaded decoders).
  Copied video is instead proven identical, packet by packet, to the clips it
  came from: decoding it would cost 1.5-2x the whole stitch, and copied bytes
  decode exactly as they did in the clips (`StitchOptions.decode_copied`
  decodes them anyway).
- **Never half-written.** The film is written under a temporary name beside
  `out` and renamed over it only once verified; a previous film at `out`
  survives a failed stitch. A film that fails verification is kept as
  `<name>.rejected.mp4` for inspection (the error says where), because the
  numbers in the message are easier to believe next to the file; the next
  successful stitch removes it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TypeVar

from PIL import Image, ImageOps

from storyboard.cards import contact_sheet
from storyboard.errors import FFmpegError, ProbeError, StitchError, VerificationError
from storyboard.filmgraph import (
    FPS,
    Encoding,
    Gain,
    Music,
    Piece,
    check_args,
    concat_list,
    copy_args,
    encode_args,
    film_frames,
    loudness_args,
)
from storyboard.media import (
    MediaInfo,
    decode_check_ffmpeg,
    frames_at,
    probe,
    run_ffmpeg,
    video_packets,
)
from storyboard.schema import storyboard_schema

T = TypeVar("T")
FRAME = 1 / FPS
FILM_CODEC = "h264"
FILM_PIXELS = "yuv420p"
# Defaults of StitchOptions. CRF 20 at x264's veryfast preset is visually clean
# for generated footage and re-encodes a minute of 720p in well under a minute
# on two cores; 192 kb/s is transparent for stereo AAC from ffmpeg's encoder.
LOUDNESS_LUFS = -16.0  # integrated loudness for online video (EBU R128 s1 suggests -23 for TV)
TRUE_PEAK_DB = -1.0  # ceiling for the limiter, dBTP
CRF = 20
PRESET = "veryfast"
AUDIO_BITRATE = "192k"
# ebur128 reports this for digital silence: nothing to normalise.
SILENCE_LUFS = -70.0
# Thumbnails: one per shot, a little way into it (its middle, at most this far
# in): representative, past any transition, and cheap to reach from a keyframe.
THUMB_WIDTH = 320
THUMB_INTO_SHOT = 1.0
CONTACT_COLUMNS = 4
POSTER_SUFFIX = ".poster.png"
CONTACT_SUFFIX = ".contact.png"
REJECTED_SUFFIX = ".rejected.mp4"
# ffmpeg runs may take this long, plus this much per second of film.
TIMEOUT_BASE = 120.0
TIMEOUT_PER_SECOND = 10.0

OVERLAPPING = "crossfade"
THROUGH_BLACK = "fade"
XFADES = frozenset(storyboard_schema()["$defs"]["transition"]["properties"]["type"]["enum"]) - {
    "cut",
    THROUGH_BLACK,
    OVERLAPPING,
}


@dataclass(frozen=True)
class Transition:
    """How a clip is entered: "cut", "fade" (through black, no overlap), "crossfade"
    or an ffmpeg xfade name (overlapping), over `duration` seconds."""

    type: str
    duration: float


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
class MusicBed:
    """Music under the clips' own sound: linear `volume`, fades in seconds."""

    path: Path
    volume: float = 1.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    loop: bool = True
    duck: bool = False


@dataclass(frozen=True)
class StitchOptions:
    """`size`: the film's (width, height), None for the first clip's. `loudness`: the
    integrated target in LUFS, None to leave levels alone. `decode_copied`: decode
    stream-copied video in verification too, instead of proving it identical."""

    size: tuple[int, int] | None = None
    loudness: float | None = LOUDNESS_LUFS
    true_peak: float = TRUE_PEAK_DB
    crf: int = CRF
    preset: str = PRESET
    audio_bitrate: str = AUDIO_BITRATE
    decode_copied: bool = False


@dataclass(frozen=True)
class StitchResult:
    """The verified film. Durations in seconds; `av_gap` is sound end minus picture end."""

    path: Path
    duration: float
    expected: float
    frames: int
    size: tuple[int, int]
    method: str  # "copy" (video stream-copied) or "encode"
    reason: str  # why that method
    av_gap: float
    loudness: float | None  # the mix as measured before the gain, LUFS
    gain_db: float
    poster: Path
    contact_sheet: Path
    seconds: float  # wall time of the whole stitch


@dataclass(frozen=True)
class _Plan:
    """The cut normalised: pieces in whole frames and how the film will be made."""

    clips: tuple[CutClip, ...]
    pieces: tuple[Piece, ...]
    size: tuple[int, int]
    starts: tuple[int, ...]  # the film frame where each piece begins
    frames: int
    copy: bool
    reason: str


def stitch(
    clips: Sequence[CutClip],
    out: Path,
    *,
    music: MusicBed | None = None,
    options: StitchOptions = StitchOptions(),
) -> StitchResult:
    """Cut `clips` into one film at `out` (MP4, H.264/AAC), verify it, and write
    `<out stem>.poster.png` and `<out stem>.contact.png` beside it."""
    began = time.monotonic()
    out = Path(out)
    plan = _plan(clips, options)
    bed = _music(music)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.stem}.partial-{os.getpid()}.mp4")
    # On the copy path, reading the clips (packet digests, thumbnails) overlaps
    # the ffmpeg run, which leaves a core idle; the full path gets its pictures
    # from the decode that verifies the film.
    side = ThreadPoolExecutor(1)
    try:
        with TemporaryDirectory(prefix="storyboard-stitch-") as tmp:
            work = Path(tmp)
            sources = side.submit(_source_packets, plan) if plan.copy else None
            pictures = side.submit(_clip_pictures, plan) if plan.copy else None
            measured, gain = _make(plan, bed, options, partial, work)
            info = _verify(partial, out, plan, sources, options, work)
            thumbs, poster = _result_of(pictures) if pictures else _film_pictures(plan, work)
        partial.replace(out)
    finally:
        side.shutdown(cancel_futures=True)
        partial.unlink(missing_ok=True)  # a failure's leftovers; gone after the rename
    out.with_name(out.stem + REJECTED_SUFFIX).unlink(missing_ok=True)
    poster_path = _save_png(poster, out.with_name(out.stem + POSTER_SUFFIX))
    sheet = contact_sheet(thumbs, columns=CONTACT_COLUMNS, width=THUMB_WIDTH)
    sheet_path = _save_png(sheet, out.with_name(out.stem + CONTACT_SUFFIX))
    return StitchResult(
        path=out,
        duration=info.video_duration,
        expected=plan.frames / FPS,
        frames=plan.frames,
        size=plan.size,
        method="copy" if plan.copy else "encode",
        reason=plan.reason,
        av_gap=info.audio_duration - info.video_duration,
        loudness=measured,
        gain_db=gain.db if gain else 0.0,
        poster=poster_path,
        contact_sheet=sheet_path,
        seconds=time.monotonic() - began,
    )


def _timeout(plan: _Plan) -> float:
    return TIMEOUT_BASE + TIMEOUT_PER_SECOND * plan.frames / FPS


def _make(
    plan: _Plan, bed: Music | None, options: StitchOptions, partial: Path, work: Path
) -> tuple[float | None, Gain | None]:
    """Measure the sound, then write the film to `partial` in one ffmpeg run;
    return the measured loudness and the gain applied."""
    try:
        measured, gain = _loudness(plan, bed, options, work)
        enc = Encoding(plan.size, options.crf, options.preset, options.audio_bitrate)
        if plan.copy:
            listing = work / "clips.ffconcat"
            listing.write_text(concat_list(plan.pieces), encoding="utf-8")
            args = copy_args(plan.pieces, bed, gain, enc, listing, partial)
        else:
            args = encode_args(plan.pieces, bed, gain, enc, partial)
        run_ffmpeg(args, timeout=_timeout(plan))
    except FFmpegError as exc:
        raise StitchError(f"ffmpeg could not make the film: {exc}") from exc
    return measured, gain


# --- the plan -------------------------------------------------------------------


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


def _clip_frames(info: MediaInfo) -> int:
    """Frames the clip holds at 24 fps: its frame count when that agrees with its
    duration (exact), else its duration in frames."""
    seconds = info.video_duration or info.duration
    if info.frames and abs(info.fps - FPS) < 0.01 and abs(info.frames / FPS - seconds) < FRAME:
        return info.frames
    return _frames(seconds)


def _film_size(options: StitchOptions, first: MediaInfo) -> tuple[int, int]:
    if options.size is None:  # yuv420p needs even sides
        return first.width // 2 * 2, first.height // 2 * 2
    w, h = options.size
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise StitchError(f"film size {w}x{h}: both sides must be positive and even")
    return w, h


def _piece(clip: CutClip, info: MediaInfo) -> Piece:
    held = _clip_frames(info)
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


def _plan(clips: Sequence[CutClip], options: StitchOptions) -> _Plan:
    if not clips:
        raise StitchError("nothing to stitch: the cut is empty")
    infos = [_probe_clip(c) for c in clips]
    size = _film_size(options, infos[0])
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
    reason = _why_encode(clips, infos, pieces, size)
    return _Plan(
        clips=tuple(clips),
        pieces=tuple(pieces),
        size=size,
        starts=tuple(starts),
        frames=film_frames(pieces),
        copy=reason is None,
        reason=reason or "hard cuts of clips that share codec, size, fps and parameter sets",
    )


def _why_encode(
    clips: Sequence[CutClip], infos: Sequence[MediaInfo], pieces: Sequence[Piece], size: tuple
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


def _music(bed: MusicBed | None) -> Music | None:
    if bed is None:
        return None
    try:
        info = probe(bed.path)
    except ProbeError as exc:
        raise StitchError(f"music: {exc}") from exc
    if not info.has_audio:
        raise StitchError(f"music {bed.path} has no sound")
    if bed.volume < 0 or bed.fade_in < 0 or bed.fade_out < 0:
        raise StitchError("music: volume and fades cannot be negative")
    return Music(bed.path, bed.volume, bed.fade_in, bed.fade_out, bed.loop, bed.duck)


# --- loudness -----------------------------------------------------------------


def _loudness(
    plan: _Plan, bed: Music | None, options: StitchOptions, work: Path
) -> tuple[float | None, Gain | None]:
    """Measure the mix and return (integrated LUFS, the gain to reach the target)."""
    if options.loudness is None:
        return None, None
    report = work / "loudness.txt"
    run_ffmpeg(loudness_args(plan.pieces, bed, report), timeout=_timeout(plan))
    integrated, peak = None, 0.0
    for line in report.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key == "lavfi.r128.I":
            integrated = float(value)
        elif key == "lavfi.r128.true_peak":
            peak = max(peak, float(value))
    if integrated is None:
        raise StitchError("the loudness measurement of the film's sound came back empty")
    if integrated <= SILENCE_LUFS or peak <= 0:
        return integrated, None
    db = options.loudness - integrated
    limit = None
    if 20 * math.log10(peak) + db > options.true_peak:
        limit = 10 ** (options.true_peak / 20)
    return integrated, Gain(db, limit)


# --- verification ---------------------------------------------------------------


def _reject(partial: Path, out: Path, problems: list[str]) -> VerificationError:
    rejected = out.with_name(out.stem + REJECTED_SUFFIX)
    partial.replace(rejected)
    return VerificationError(f"{'; '.join(problems)} (the rejected film is at {rejected})")


def _verify(
    partial: Path,
    out: Path,
    plan: _Plan,
    sources: Future[list[tuple[bytes, ...]]] | None,
    options: StitchOptions,
    work: Path,
) -> MediaInfo:
    """The checks of the module docstring; a failure moves the film aside and raises."""
    try:
        info = probe(partial)
    except ProbeError as exc:
        raise _reject(partial, out, [f"the film cannot be read ({exc})"]) from exc
    problems = _measure_problems(info, plan)
    if problems:
        raise _reject(partial, out, problems)
    try:
        if plan.copy:
            decode_check_ffmpeg(
                partial, video=options.decode_copied, audio=True, timeout=_timeout(plan)
            )
        else:
            (work / "thumbs").mkdir()
            thumbs = [_film_frame(plan, i, into) for i, into, _ in _shots(plan)]
            poster = _film_frame(plan, *_poster_time(plan)[1:])
            args = check_args(
                partial, thumbs, poster, THUMB_WIDTH, work / "thumbs", work / "poster.png"
            )
            run_ffmpeg(args, timeout=_timeout(plan))
    except (ProbeError, FFmpegError) as exc:
        raise _reject(partial, out, [f"a full decode failed: {exc}"]) from exc
    if sources is not None:
        difference = _copy_difference(partial, plan, _result_of(sources))
        if difference:
            raise _reject(partial, out, [difference])
    return info


def _measure_problems(info: MediaInfo, plan: _Plan) -> list[str]:
    expected = plan.frames / FPS
    seconds = info.video_duration or info.duration
    frames = info.frames or _frames(seconds)
    problems = []
    if not info.has_video:
        return ["the film has no picture"]
    if abs(seconds - expected) >= FRAME - 1e-6:
        problems.append(f"film lasts {seconds:.3f} s, the cut says {expected:.3f} s")
    elif frames != plan.frames:
        problems.append(f"film has {frames} frames, the cut says {plan.frames}")
    if abs(info.fps - FPS) > 0.01:
        problems.append(f"film plays at {info.fps:.3f} fps, not {FPS}")
    if not info.has_audio:
        problems.append("film has no sound")
    elif abs(info.audio_duration - seconds) >= FRAME - 1e-6:
        problems.append(
            f"sound lasts {info.audio_duration:.3f} s, picture {seconds:.3f} s "
            "(more than a frame apart)"
        )
    return problems


def _source_packets(plan: _Plan) -> list[tuple[bytes, ...]]:
    digests = []
    for clip in plan.clips:
        try:
            digests.append(video_packets(clip.path).digests)
        except ProbeError as exc:
            raise StitchError(f"clip {clip.label!r}: {exc}") from exc
    return digests


def _copy_difference(partial: Path, plan: _Plan, sources: list[tuple[bytes, ...]]) -> str | None:
    """Where the film's copied video differs from its clips, or None if it does not."""
    film = video_packets(partial).digests
    at = 0
    for clip, piece, digests in zip(plan.clips, plan.pieces, sources, strict=True):
        if len(digests) != piece.frames:
            return (
                f"clip {clip.label!r} holds {len(digests)} pictures, its probe said {piece.frames}"
            )
        for k, digest in enumerate(digests):
            if at + k >= len(film) or film[at + k] != digest:
                return f"the film's picture differs from clip {clip.label!r} at its frame {k}"
        at += len(digests)
    if len(film) != at:
        return f"the film holds {len(film)} pictures, its clips {at}"
    return None


# --- poster and contact sheet ---------------------------------------------------


def _marks(plan: _Plan, i: int) -> tuple[ShotMark, ...]:
    clip, piece = plan.clips[i], plan.pieces[i]
    length = piece.frames / FPS
    marks = [m for m in clip.shots if m.start < length] or [ShotMark(clip.label, 0.0, length)]
    return tuple(marks)


def _shots(plan: _Plan) -> list[tuple[int, float, str]]:
    """Every shot of the film as (piece, seconds into the piece of its thumbnail, label)."""
    return [
        (i, m.start + min(m.duration / 2, THUMB_INTO_SHOT), m.label)
        for i in range(len(plan.pieces))
        for m in _marks(plan, i)
    ]


def _poster_time(plan: _Plan) -> tuple[float, int, float]:
    """The middle of the film's longest shot: (film seconds, piece, seconds into it)."""
    best = max(
        ((m.duration, -i, m) for i in range(len(plan.pieces)) for m in _marks(plan, i)),
        key=lambda x: (x[0], x[1]),
    )
    i, mark = -best[1], best[2]
    into = mark.start + min(mark.duration, plan.pieces[i].frames / FPS - mark.start) / 2
    return plan.starts[i] / FPS + into, i, into


def _film_frame(plan: _Plan, piece: int, into: float) -> int:
    return min(plan.frames - 1, plan.starts[piece] + _frames(into))


def _cell(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A thumbnail in the film's shape (a clip of another shape is padded, as in the film)."""
    w, h = size
    return ImageOps.pad(image, (THUMB_WIDTH, max(2, round(THUMB_WIDTH * h / w))), color=(0, 0, 0))


Pictures = tuple[list[tuple[Image.Image, str]], Image.Image]


def _clip_pictures(plan: _Plan) -> Pictures:
    """Copy path: thumbnails and poster read from the clips, whose frames are the
    film's frames bit for bit."""
    shots = _shots(plan)
    thumbs = []
    for i, (clip, piece) in enumerate(zip(plan.clips, plan.pieces, strict=True)):
        mine = [(into, label) for j, into, label in shots if j == i]
        times = [piece.start / FPS + into for into, _ in mine]
        try:
            images = frames_at(clip.path, times, width=THUMB_WIDTH)
        except ProbeError as exc:
            raise StitchError(f"clip {clip.label!r}: {exc}") from exc
        thumbs += [
            (_cell(img, plan.size), label) for img, (_, label) in zip(images, mine, strict=True)
        ]
    _, i, into = _poster_time(plan)
    poster = frames_at(plan.clips[i].path, [plan.pieces[i].start / FPS + into])[0]
    return thumbs, poster


def _film_pictures(plan: _Plan, work: Path) -> Pictures:
    """Full path: the frames the verifying decode kept (files named in frame order)."""
    frames = sorted({_film_frame(plan, i, into) for i, into, _ in _shots(plan)})
    files = sorted((work / "thumbs").glob("*.png"))
    if len(files) != len(frames) or not (work / "poster.png").is_file():
        raise StitchError(f"the film's decode kept {len(files)} thumbnails of {len(frames)}")
    by_frame = dict(zip(frames, files, strict=True))
    thumbs = [
        (_cell(_load(by_frame[_film_frame(plan, i, into)]), plan.size), label)
        for i, into, label in _shots(plan)
    ]
    return thumbs, _load(work / "poster.png")


def _load(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _result_of(future: Future[T]) -> T:
    try:
        return future.result()
    except ProbeError as exc:
        raise StitchError(str(exc)) from exc


def _save_png(image: Image.Image, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    image.save(tmp, format="PNG")
    tmp.replace(path)
    return path
