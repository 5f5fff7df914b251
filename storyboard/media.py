"""The one place that runs ffmpeg and the one place that probes media.

ffmpeg is found on PATH, else the binary shipped by the `imageio-ffmpeg`
wheel; `STORYBOARD_FFMPEG` overrides both. Probing uses PyAV, which needs no
ffprobe binary. Foreign errors (subprocess, av) become `FFmpegError` and
`ProbeError` here.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlsplit

import av

from storyboard.errors import EnvironmentProblem, FFmpegError, MediaError, ProbeError

FFMPEG_ENV = "STORYBOARD_FFMPEG"


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary to run."""
    override = os.environ.get(FFMPEG_ENV)
    if override:
        if not Path(override).is_file():
            raise EnvironmentProblem(f"{FFMPEG_ENV}={override} is not a file")
        return override
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise EnvironmentProblem(
            "ffmpeg not found: install the imageio-ffmpeg wheel or put ffmpeg on PATH"
        ) from exc


def run_ffmpeg(args: Sequence[str], *, timeout: float | None = None) -> None:
    """Run ffmpeg with `args` (without the program name); raise FFmpegError on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FFmpegError(f"ffmpeg did not finish within {timeout} s") from exc
    except OSError as exc:
        raise EnvironmentProblem(f"cannot run ffmpeg ({cmd[0]}): {exc}") from exc
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-8:]
        raise FFmpegError(f"ffmpeg exited with {proc.returncode}: " + " | ".join(tail))


@dataclass(frozen=True)
class MediaInfo:
    """What a probe of one media file found. Durations in seconds."""

    path: Path
    format_name: str
    duration: float
    size_bytes: int
    width: int = 0
    height: int = 0
    fps: float = 0.0
    video_codec: str | None = None
    pix_fmt: str | None = None
    video_duration: float = 0.0
    frames: int | None = None
    has_audio: bool = False
    audio_codec: str | None = None
    sample_rate: int = 0
    channels: int = 0
    audio_duration: float = 0.0

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None


def _stream_seconds(stream: av.stream.Stream) -> float:
    if stream.duration is None or stream.time_base is None:
        return 0.0
    return float(stream.duration * stream.time_base)


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Probe a media file's container, first video stream and first audio stream."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with av.open(str(p)) as container:
            fields: dict[str, object] = {
                "path": p,
                "format_name": container.format.name,
                "size_bytes": size,
                "duration": (container.duration or 0) / 1_000_000,
            }
            if container.streams.video:
                vs = container.streams.video[0]
                rate = vs.average_rate or vs.guessed_rate or Fraction(0)
                fields.update(
                    width=vs.codec_context.width,
                    height=vs.codec_context.height,
                    fps=float(rate),
                    video_codec=vs.codec_context.name,
                    pix_fmt=vs.codec_context.pix_fmt,
                    video_duration=_stream_seconds(vs),
                    frames=vs.frames or None,
                )
            if container.streams.audio:
                aus = container.streams.audio[0]
                fields.update(
                    has_audio=True,
                    audio_codec=aus.codec_context.name,
                    sample_rate=aus.codec_context.sample_rate or 0,
                    channels=aus.codec_context.channels or 0,
                    audio_duration=_stream_seconds(aus),
                )
    except FileNotFoundError as exc:
        raise ProbeError(f"{p}: no such file") from exc
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise ProbeError(f"{p}: not readable as media ({exc})") from exc
    return MediaInfo(**fields)  # type: ignore[arg-type]


def decode_check(path: str | os.PathLike[str]) -> None:
    """Decode every frame of every stream; raise ProbeError at the first error."""
    try:
        with av.open(str(path)) as container:
            for _ in container.decode(*container.streams):
                pass
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise ProbeError(f"{path}: decode failed ({exc})") from exc


def extract_frame(
    video: str | os.PathLike[str], out_png: str | os.PathLike[str], *, which: str = "last"
) -> Path:
    """Write the first or last frame of `video` as a PNG; return its path.

    The last frame is found by seeking near the end and keeping the final
    decoded frame, so long clips are not decoded from the start.
    """
    if which not in ("first", "last"):
        raise ValueError(f"which must be 'first' or 'last', not {which!r}")
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                raise ProbeError(f"{video}: has no video stream")
            stream = container.streams.video[0]
            frame = None
            if which == "last" and container.duration:
                container.seek(max(0, container.duration - 2_000_000), any_frame=False)
            for decoded in container.decode(stream):
                frame = decoded
                if which == "first":
                    break
            if frame is None:
                raise ProbeError(f"{video}: no decodable frame")
            tmp = out.with_suffix(".tmp.png")
            frame.to_image().save(tmp, format="PNG")
            tmp.replace(out)
    except (av.FFmpegError, OSError) as exc:
        raise ProbeError(f"{video}: cannot extract {which} frame ({exc})") from exc
    return out


def local_media(url: str, inline_dir: Path) -> Path | None:
    """The local file behind a payload's image or video reference (R8, R13).

    A `file://` URL or an absolute path is that file; anything else that is
    not an http(s) URL is Base64 image data (bare, or a `data:` URI), written
    once under `inline_dir` by content hash. Base64 of a JPEG starts with
    `/9j/`, so the file test comes first and is guarded against names too long
    for the OS. Returns None for http(s) URLs: whether to refuse them (the
    preview) or serve them (the mock's own clip URLs) is the caller's call.
    Raises MediaError for a missing file or data that is not Base64.
    """
    parts = urlsplit(url[:4096])
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        if not path.is_file():
            raise MediaError(f"{path}: no such file")
        return path
    if not url.startswith("data:") and len(url) < 4096 and Path(url).is_absolute():
        try:
            if Path(url).is_file():
                return Path(url)
        except OSError:
            pass  # not a path after all: try it as Base64
    encoded = url.split(",", 1)[1] if url.startswith("data:") else url
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        shown = url if len(url) < 120 else url[:60] + "..."
        raise MediaError(f"{shown}: neither a local file nor Base64 data") from exc
    suffix = ".png" if raw.startswith(b"\x89PNG") else ".jpg"
    path = inline_dir / (hashlib.sha256(raw).hexdigest()[:24] + suffix)
    if not path.is_file():
        inline_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        tmp.write_bytes(raw)
        tmp.replace(path)
    return path
