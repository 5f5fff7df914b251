"""Pictures: an image's header and pixels (Pillow), and the frames of a video (PyAV).

An image's size is read from its header before a pixel is decoded, so a
decompression bomb is refused unread (`TooManyPixels`). Foreign errors
(PIL, av, the file system) become `ProbeError` here. PyAV is imported by the
functions that read a video, so checking an image does not load it.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, UnidentifiedImageError

from storyboard import scratch
from storyboard.errors import MediaError, ProbeError, TooManyPixels

if TYPE_CHECKING:
    import av


@dataclass(frozen=True)
class ImageInfo:
    """What an image's header says."""

    format: str
    width: int
    height: int


def image_header(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Format and size of the image in `data`, from its header alone.

    Raises TooManyPixels when the header declares more than `max_pixels` (so a
    bomb is refused before a byte of it is decoded), ProbeError when Pillow does
    not recognise the data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                info = ImageInfo(img.format or "unknown", *img.size)
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(f"more than {max_pixels} pixels in all") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        # Pillow's PNG reader reports a broken header as a SyntaxError
        raise ProbeError(str(exc)) from exc
    if info.width * info.height > max_pixels:
        raise TooManyPixels(f"{info.width}x{info.height} px, more than {max_pixels} pixels in all")
    return info


def decode_image(data: bytes) -> None:
    """Decode every pixel of the image in `data` (bounded first with `image_header`);
    raise ProbeError when it is truncated or corrupt."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ProbeError(str(exc)) from exc


def frame_image(video: str | os.PathLike[str], *, which: str = "last") -> Image.Image:
    """The first or last picture of `video`.

    The last is found by seeking near the end and keeping the final decoded
    frame (with threaded decoding), so long clips are not decoded from the start.
    """
    if which not in ("first", "last"):
        raise MediaError(f"{video}: there is no {which!r} frame, only the first or the last")
    import av

    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                raise ProbeError(f"{video}: has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frame = None
            if which == "last" and container.duration:
                container.seek(max(0, container.duration - 2_000_000), any_frame=False)
            for decoded in container.decode(stream):
                frame = decoded
                if which == "first":
                    break
            if frame is None:
                raise ProbeError(f"{video}: no decodable frame")
            return _picture(frame, None)
    except (av.FFmpegError, OSError) as exc:
        raise ProbeError(f"{video}: cannot extract {which} frame ({exc})") from exc


def extract_frame(
    video: str | os.PathLike[str], out_png: str | os.PathLike[str], *, which: str = "last"
) -> Path:
    """Write the first or last frame of `video` as a PNG; return its path."""
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    image = frame_image(video, which=which)
    try:
        with scratch.replacing(out, ".png") as tmp:
            image.save(tmp, format="PNG")
    except OSError as exc:
        raise ProbeError(f"cannot write {out} ({exc})") from exc
    return out


# Decoding on from the current frame beats seeking back to a keyframe when the
# next wanted frame is this close ahead.
_SEEK_BEYOND = 2.0


def frames_at(
    video: str | os.PathLike[str], times: Sequence[float], *, width: int | None = None
) -> list[Image.Image]:
    """The pictures `video` shows at each of `times` (seconds), in the order asked.

    Each is reached from the keyframe before it (or by decoding on, when it is
    just ahead), so a long clip is not decoded from its start. `width` scales
    the pictures down (aspect kept) in the decoder's own scaler."""
    order = sorted(range(len(times)), key=lambda i: times[i])
    found: dict[int, Image.Image] = {}
    import av

    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                raise ProbeError(f"{video}: has no video stream")
            stream = container.streams.video[0]
            base = stream.time_base or Fraction(1, 1_000_000)
            frames = None
            current = None
            for i in order:
                t = max(0.0, times[i])
                now: float | None = current.time if current is not None else None
                if now is None or t < now or t - now > _SEEK_BEYOND:
                    container.seek(int(t / base), stream=stream, backward=True, any_frame=False)
                    frames, current = container.decode(stream), None
                assert frames is not None
                shown = current
                for frame in frames:
                    if frame.time is not None and frame.time > t + 1e-6 and shown is not None:
                        current = frame
                        break
                    shown = current = frame
                if shown is None:
                    raise ProbeError(f"{video}: no decodable frame at {t:.3f} s")
                found[i] = _picture(shown, width)
    except (av.FFmpegError, OSError) as exc:
        raise ProbeError(f"{video}: cannot read frames ({exc})") from exc
    return [found[i] for i in range(len(times))]


def _picture(frame: av.VideoFrame, width: int | None) -> Image.Image:
    """The frame as a picture, scaled down to `width` (aspect kept, even height)."""
    size = {}
    if width is not None and frame.width > width:
        size = {"width": width, "height": max(2, round(frame.height * width / frame.width / 2) * 2)}
    image: Image.Image = frame.to_image(**size)  # type: ignore[no-untyped-call,unused-ignore]
    return image
