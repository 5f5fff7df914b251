"""Whether a written film is what the cut says, and the stills people look at.

The stitcher hands over the film under a temporary name with the cut's
arithmetic (its frame count) and the stills it wants; nothing here knows
about transitions or trims.

- **Measured, not trusted**: the probed film must last the cut's frames (to
  the frame, and within a frame in seconds), its sound and picture must end
  within one frame of each other, it must play at 24 fps, and it must have
  sound.
- **Decoded**: every stream ffmpeg encoded is decoded in full with ffmpeg's
  multithreaded decoders, any error fatal. Copied video is instead proven
  identical, packet by packet, to the clips it came from: decoding it costs
  more than the whole copy stitch (1.5-2x), and copied bytes decode exactly as
  they did in the clips (`decode_copied` decodes them anyway). A smart render's
  re-encoded stretches are decoded in full from their own files, and the film
  is proven to hold exactly their packets where they belong.
- **Stills for free**: on the full path, the thumbnails and the poster are
  frames kept by that same decode; on the copy path they are read from the
  clips, whose frames are the film's frames bit for bit; on a smart render
  from the clips or the re-encoded stretches, whichever holds the frame.
- A film that fails is moved to `<name>.rejected.mp4` beside where it was
  meant to go, and the error (with the numbers) says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from storyboard.errors import FFmpegError, ProbeError, StitchError, VerificationError
from storyboard.film.graph import FPS, check_args
from storyboard.media import (
    MediaInfo,
    decode_check_ffmpeg,
    frames_at,
    probe,
    run_ffmpeg,
    video_packets,
)

FRAME = 1 / FPS
REJECTED_SUFFIX = ".rejected.mp4"
THUMB_WIDTH = 320

Pictures = tuple[list[tuple[Image.Image, str]], Image.Image]


@dataclass(frozen=True)
class Still:
    """A frame of the film to keep: where the copy path reads it (a clip and the
    seconds into that file) and where the full path's decode meets it."""

    label: str
    clip: Path
    clip_time: float
    film_frame: int


@dataclass(frozen=True)
class Copied:
    """A clip (`what`: "clip") or a re-encoded stretch whose picture the film holds
    packet for packet, in film order."""

    label: str
    frames: int
    digests: tuple[bytes, ...]
    what: str = "clip"


def rejected_path(out: Path) -> Path:
    return out.with_name(out.stem + REJECTED_SUFFIX)


def _reject(film: Path, out: Path, problems: list[str]) -> VerificationError:
    rejected = rejected_path(out)
    film.replace(rejected)
    return VerificationError(f"{'; '.join(problems)} (the rejected film is at {rejected})")


def verify(
    film: Path,
    out: Path,
    *,
    frames: int,
    copied: Sequence[Copied] | None,
    decode_copied: bool,
    stills: Sequence[Still],
    poster: Still,
    work: Path,
    timeout: float,
) -> MediaInfo:
    """Check `film` (meant for `out`) against the cut's `frames`; `copied` lists the
    clips (and, on a smart render, the re-encoded stretches, decoded in full as
    they were made) when the video was stream-copied. Raise VerificationError, having
    moved the film aside, at the first check that fails. The full path's decode
    leaves the stills in `work` for `film_pictures`."""
    try:
        info = probe(film)
    except ProbeError as exc:
        raise _reject(film, out, [f"the film cannot be read ({exc})"]) from exc
    problems = measure_problems(info, frames)
    if problems:
        raise _reject(film, out, problems)
    try:
        if copied is not None:
            # The film's sound (and all of it when asked); its picture is proven
            # below to be the packets of clips and of stretches that decode.
            decode_check_ffmpeg(film, video=decode_copied, audio=True, timeout=timeout)
        else:
            (work / "thumbs").mkdir()
            chosen = [s.film_frame for s in stills]
            args = check_args(
                film, chosen, poster.film_frame, THUMB_WIDTH, work / "thumbs", work / "poster.png"
            )
            run_ffmpeg(args, timeout=timeout)
    except (ProbeError, FFmpegError) as exc:
        raise _reject(film, out, [f"a full decode failed: {exc}"]) from exc
    if copied is not None:
        difference = copy_difference(film, copied)
        if difference:
            raise _reject(film, out, [difference])
    return info


def measure_problems(info: MediaInfo, frames: int) -> list[str]:
    """What is wrong with the probed film, in numbers (nothing: an empty list)."""
    if not info.has_video:
        return ["the film has no picture"]
    expected = frames / FPS
    seconds = info.video_duration or info.duration
    counted = info.frames or round(seconds * FPS)
    problems = []
    if abs(seconds - expected) >= FRAME - 1e-6:
        problems.append(f"film lasts {seconds:.3f} s, the cut says {expected:.3f} s")
    elif counted != frames:
        problems.append(f"film has {counted} frames, the cut says {frames}")
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


def copy_difference(film: Path, copied: Sequence[Copied]) -> str | None:
    """Where the film's copied video differs from its clips, or None if it does not."""
    held = video_packets(film).digests
    at = 0
    for clip in copied:
        if len(clip.digests) != clip.frames:
            count = len(clip.digests)
            return (
                f"{clip.what} {clip.label!r} holds {count} pictures, its probe said {clip.frames}"
            )
        for k, digest in enumerate(clip.digests):
            if at + k >= len(held) or held[at + k] != digest:
                return (
                    f"the film's picture differs from {clip.what} {clip.label!r} at its frame {k}"
                )
        at += len(clip.digests)
    if len(held) != at:
        return f"the film holds {len(held)} pictures, its clips {at}"
    return None


def _cell(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A thumbnail in the film's shape (a clip of another shape is padded, as in the film)."""
    w, h = size
    return ImageOps.pad(image, (THUMB_WIDTH, max(2, round(THUMB_WIDTH * h / w))), color=(0, 0, 0))


def clip_pictures(stills: Sequence[Still], poster: Still, size: tuple[int, int]) -> Pictures:
    """Copy path: thumbnails (in the film's shape) and the full-size poster, from the clips."""
    clips = list(dict.fromkeys(s.clip for s in stills))
    found: dict[int, Image.Image] = {}
    for path in clips:
        mine = [i for i, s in enumerate(stills) if s.clip == path]
        try:
            images = frames_at(path, [stills[i].clip_time for i in mine], width=THUMB_WIDTH)
            found.update(zip(mine, images, strict=True))
        except ProbeError as exc:
            raise StitchError(str(exc)) from exc
    thumbs = [(_cell(found[i], size), s.label) for i, s in enumerate(stills)]
    try:
        big = frames_at(poster.clip, [poster.clip_time])[0]
    except ProbeError as exc:
        raise StitchError(str(exc)) from exc
    return thumbs, big


def film_pictures(stills: Sequence[Still], size: tuple[int, int], work: Path) -> Pictures:
    """Full path: the frames `verify`'s decode kept (named in frame order)."""
    frames = sorted({s.film_frame for s in stills})
    files = sorted((work / "thumbs").glob("*.png"))
    if len(files) != len(frames) or not (work / "poster.png").is_file():
        raise StitchError(f"the film's decode kept {len(files)} thumbnails of {len(frames)}")
    by_frame = dict(zip(frames, files, strict=True))
    thumbs = [(_cell(_load(by_frame[s.film_frame]), size), s.label) for s in stills]
    return thumbs, _load(work / "poster.png")


def _load(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")
