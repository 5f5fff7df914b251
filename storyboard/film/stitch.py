"""The stitch stage: the cut's clips become one film, verified, with a poster and
a contact sheet beside it.

How, and why this way:
- **Normalise once** (`storyboard.film.cutplan`): every clip probed, trims and
  transitions in whole frames, every impossibility a `StitchError` before
  ffmpeg starts; the film's length is arithmetic on those frames.
- **As fast as the cut allows.** Hard cuts of clips whose pictures agree copy
  the video packet for packet. The sound is never copied: a plain `-c copy`
  concat drifts by each clip's AAC priming and padding (~35 ms a cut, 0.36 s
  after 12 clips), so every clip's sound is cut to its picture's length to
  the sample and encoded once. That costs what the audio encode costs and
  keeps every cut within a millisecond or two. Music only touches the sound,
  so it does not force a re-encode either. Anything else is a smart render
  (`storyboard.film.smart`: only what transitions, trims, resizes and fades
  touch is re-encoded, every other closed GOP copied) when the clips' H.264
  parameters allow it, else one filter graph (`storyboard.film.graph`), and
  the result's `reason` says why.
- **Loudness** is measured first and applied as one gain in the film's run
  (`storyboard.film.loudness`).
- **Verified before it is called done** (`storyboard.film.verify`): the film
  must last the cut's arithmetic, keep sound and picture together, and decode.
- **Never half-written.** The film is written under a temporary name beside
  `out` and renamed over it only once verified; a previous film at `out`
  survives a failed stitch. That name and the work folder beside it carry
  the process id, so the next stitch removes those of a killed one
  (`storyboard.scratch`). A film that fails verification is kept as
  `<name>.rejected.mp4` for inspection (the error says where), because the
  numbers in the message are easier to believe next to the file; the next
  successful stitch removes it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from PIL import Image

from storyboard import scratch
from storyboard.animatic.cards import contact_sheet
from storyboard.errors import FFmpegError, ProbeError, StitchError
from storyboard.film import loudness, smart
from storyboard.film.cut import (
    DEFAULT_OPTIONS,
    CutClip,
    ShotMark,
    StitchOptions,
    StitchProgress,
    StitchResult,
)
from storyboard.film.cutplan import CutPlan, plan_cut, stills
from storyboard.film.graph import (
    FPS,
    X264,
    Encoding,
    Gain,
    concat_list,
    copy_args,
    encode_args,
    mux_args,
    sound_args,
)
from storyboard.film.verify import (
    THUMB_WIDTH,
    Copied,
    Pictures,
    Still,
    clip_pictures,
    film_pictures,
    rejected_path,
    verify,
)
from storyboard.language.montage import Audio, Transition
from storyboard.media import (
    awaited,
    decode_check_ffmpeg,
    probe,
    run_ffmpeg,
    stop_children,
    video_packets,
)
from storyboard.media.process import Progress

__all__ = [
    "Audio",
    "CutClip",
    "ShotMark",
    "StitchOptions",
    "StitchProgress",
    "StitchResult",
    "Transition",
    "stitch",
]

T = TypeVar("T")
CONTACT_COLUMNS = 4
POSTER_SUFFIX = ".poster.png"
CONTACT_SUFFIX = ".contact.png"
# ffmpeg runs may take this long, plus this much per second of film.
TIMEOUT_BASE = 120.0
TIMEOUT_PER_SECOND = 10.0


def stitch(
    clips: Sequence[CutClip],
    out: Path,
    *,
    music: Audio | None = None,
    options: StitchOptions = DEFAULT_OPTIONS,
    memo: Path | None = None,
    progress: StitchProgress | None = None,
) -> StitchResult:
    """Cut `clips` into one film at `out` (MP4, H.264/AAC), verify it, and write
    `<out stem>.poster.png` and `<out stem>.contact.png` beside it. `memo`: a
    folder where what is measured of single clips is kept between stitches.
    `progress`: told how far the run that writes the film has got (see
    `StitchProgress`), so that a live view does not sit still while it runs."""
    began = time.monotonic()
    out = Path(out)
    plan = plan_cut(clips, options.size)
    written = _written(progress, plan.frames / FPS)
    _check_music(music)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch.sweep(out.parent)  # what a killed stitch left beside the film
    partial = scratch.tagged(out, "partial", ".mp4")
    thumb_stills, poster_still = stills(plan)
    # Reading the clips (packet digests, stills) and measuring the sound overlap
    # the ffmpeg runs, which leave a core idle; the full path gets its stills
    # from the decode that verifies the film.
    side = ThreadPoolExecutor(4)
    try:
        with scratch.work_dir(out) as work:
            made = _make(
                plan, music, options, partial, work, memo, side, thumb_stills, poster_still, written
            )
            info = verify(
                partial,
                out,
                frames=plan.frames,
                copied=made.copied,
                decode_copied=options.decode_copied,
                stills=thumb_stills,
                poster=poster_still,
                work=work,
                timeout=_timeout(plan),
            )
            thumbs, poster = (
                _result_of(made.pictures)
                if made.pictures
                else film_pictures(thumb_stills, plan.size, work)
            )
        partial.replace(out)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: the side threads' ffmpeg runs end now, or the shutdown
        # below would wait for them (a loudness measure, a decode) before it returns.
        stop_children()
        raise
    finally:
        side.shutdown(cancel_futures=True)
        partial.unlink(missing_ok=True)  # a failure's leftovers; gone after the rename
    rejected_path(out).unlink(missing_ok=True)
    poster_path = _save_png(poster, out.with_name(out.stem + POSTER_SUFFIX))
    sheet = contact_sheet(thumbs, columns=CONTACT_COLUMNS, width=THUMB_WIDTH)
    sheet_path = _save_png(sheet, out.with_name(out.stem + CONTACT_SUFFIX))
    return StitchResult(
        path=out,
        duration=info.video_duration,
        expected=plan.frames / FPS,
        frames=plan.frames,
        size=plan.size,
        method=made.method,
        reason=made.reason,
        av_gap=info.audio_duration - info.video_duration,
        loudness=made.measured,
        gain_db=made.gain.db if made.gain else 0.0,
        poster=poster_path,
        contact_sheet=sheet_path,
        seconds=time.monotonic() - began,
    )


def _written(progress: StitchProgress | None, length: float) -> Progress | None:
    """ffmpeg's seconds written, as `progress` takes them: with the film's length,
    and never past it (the last report of a run may overshoot by a frame's padding)."""
    if progress is None:
        return None
    return lambda seconds: progress(min(seconds, length), length)


def _timeout(plan: CutPlan) -> float:
    return TIMEOUT_BASE + TIMEOUT_PER_SECOND * plan.frames / FPS


@dataclass(frozen=True)
class _Made:
    """The film written: how, and what verification and the stills need of it."""

    measured: float | None
    gain: Gain | None
    method: str
    reason: str
    copied: list[Copied] | None = None  # the film's picture, part by part, when copied
    pictures: Future[Pictures] | None = None  # stills read from the sources


def _make(
    plan: CutPlan,
    bed: Audio | None,
    options: StitchOptions,
    partial: Path,
    work: Path,
    memo: Path | None,
    side: ThreadPoolExecutor,
    thumbs: list[Still],
    poster: Still,
    written: Progress | None = None,
) -> _Made:
    """Measure the sound (beside the picture's work), then write the film to
    `partial`: by stream copy, smart render, or one full filter graph. `written`
    follows the run that writes `partial` (in a smart render, the one that joins
    the re-encoded stretches, the copied picture and the sound)."""

    def measure() -> tuple[float | None, Gain | None]:
        return loudness.measure(
            plan,
            bed,
            target=options.loudness,
            true_peak=options.true_peak,
            work=work,
            timeout=_timeout(plan),
            memo=memo,
        )

    try:
        sound = side.submit(measure)
        enc = Encoding(plan.size, options.crf, options.preset, options.audio_bitrate)
        if plan.copy:
            copies = side.submit(_copies, plan)
            pictures = side.submit(clip_pictures, thumbs, poster, plan.size)
            listing = work / "clips.ffconcat"
            listing.write_text(concat_list(plan.pieces), encoding="utf-8")
            measured, gain = _result_of(sound)
            args = copy_args(plan.pieces, bed, gain, enc, listing, partial)
            run_ffmpeg(args, timeout=_timeout(plan), progress=written)
            return _Made(measured, gain, "copy", plan.reason, _result_of(copies), pictures)
        reason = plan.reason
        if options.smart:
            film = X264(options.preset, str(options.crf))
            prepared = smart.prepare(plan, film, work, _timeout(plan))
            if not isinstance(prepared, str):
                # The sound is encoded (once measured) while the picture is re-encoded.
                audio = side.submit(_sound, sound, plan, bed, enc, work / "sound.m4a")
                made = smart.smart_video(plan, prepared, thumbs, poster, work, _timeout(plan))
                if isinstance(made, str):
                    _result_of(audio)  # not left running while the film is encoded whole
                    prepared = made
                else:
                    pictures = side.submit(clip_pictures, made.stills, made.poster, plan.size)
                    # Each re-encoded stretch is decoded in full while the sound encodes;
                    # verification proves the film holds exactly their packets.
                    _decoded(side, made.segments, _timeout(plan))
                    measured, gain, encoded = _result_of(audio)
                    run_ffmpeg(
                        mux_args(made.path, encoded, partial),
                        timeout=_timeout(plan),
                        progress=written,
                    )
                    parts = list(made.parts)
                    return _Made(measured, gain, "smart", made.reason, parts, pictures)
            reason = f"{prepared}; full re-encode ({plan.reason})"
        measured, gain = _result_of(sound)
        args = encode_args(plan.pieces, bed, gain, enc, partial)
        run_ffmpeg(args, timeout=_timeout(plan), progress=written)
        return _Made(measured, gain, "encode", reason)
    except FFmpegError as exc:
        raise StitchError(f"ffmpeg could not make the film: {exc}") from exc


def _decoded(side: ThreadPoolExecutor, segments: Sequence[Path], timeout: float) -> None:
    """Decode every segment's picture in full (beside the sound's encoding), any
    error fatal."""
    runs = [
        side.submit(decode_check_ffmpeg, s, video=True, audio=False, timeout=timeout)
        for s in segments
    ]
    for run in runs:
        try:
            awaited(run)
        except (ProbeError, FFmpegError) as exc:
            raise StitchError(f"a re-encoded stretch of the film does not decode: {exc}") from exc


def _sound(
    sound: Future[tuple[float | None, Gain | None]],
    plan: CutPlan,
    bed: Audio | None,
    enc: Encoding,
    out: Path,
) -> tuple[float | None, Gain | None, Path]:
    """The film's sound encoded into `out` with the gain its measurement asks for."""
    measured, gain = awaited(sound)
    run_ffmpeg(sound_args(plan.pieces, bed, gain, enc, out), timeout=_timeout(plan))
    return measured, gain, out


def _check_music(bed: Audio | None) -> None:
    """The music must be a readable file with sound, its volume and fades not negative."""
    if bed is None:
        return
    try:
        info = probe(bed.music)
    except ProbeError as exc:
        raise StitchError(f"music: {exc}") from exc
    if not info.has_audio:
        raise StitchError(f"music {bed.music} has no sound")
    if bed.volume < 0 or bed.fade_in < 0 or bed.fade_out < 0:
        raise StitchError("music: volume and fades cannot be negative")


# --- stills and copies -----------------------------------------------------------


def _copies(plan: CutPlan) -> list[Copied]:
    """Every clip's packet digests, for proving the stream copy exact."""
    copies = []
    for clip, piece in zip(plan.clips, plan.pieces, strict=True):
        try:
            copies.append(Copied(clip.label, piece.frames, video_packets(clip.path).digests))
        except ProbeError as exc:
            raise StitchError(f"clip {clip.label!r}: {exc}") from exc
    return copies


def _result_of(future: Future[T]) -> T:
    try:
        return awaited(future)
    except ProbeError as exc:
        raise StitchError(str(exc)) from exc


def _save_png(image: Image.Image, path: Path) -> Path:
    with scratch.replacing(path) as tmp:
        image.save(tmp, format="PNG")
    return path
