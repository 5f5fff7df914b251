"""The one place that runs ffmpeg and the one place that probes media.

ffmpeg is found on PATH, else the binary shipped by the `imageio-ffmpeg`
wheel; `STORYBOARD_FFMPEG` overrides both. Probing uses PyAV, which needs no
ffprobe binary. Foreign errors (subprocess, av) become `FFmpegError` and
`ProbeError` here.

Every child process starts in `run_child`, and dies with storyboard: on
Linux the kernel kills it when storyboard dies, even by SIGKILL
(`PR_SET_PDEATHSIG`); an interrupted run stops the ones still running
(`stop_children`). A child sees storyboard's environment without its secrets
(`child_env`): ffmpeg has no use for an API key.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import ctypes.util
import fnmatch
import functools
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

import av
from PIL import Image, UnidentifiedImageError

from storyboard import scratch
from storyboard.errors import (
    EnvironmentProblem,
    FFmpegError,
    MediaError,
    ProbeError,
    TooManyPixels,
)

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


# Names of environment variables a child process never sees (matched without
# regard to case): the provider's key and whatever else looks like a credential.
SECRET_NAMES = (
    "KIRIN_API_KEY",
    "*_API_KEY",
    "*_TOKEN",
    "*_SECRET",
    "*_SECRET_*",
    "*PASSWORD",  # PGPASSWORD, DB_PASSWORD
)


def child_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`environ` (default: ours) without the variables `SECRET_NAMES` matches."""
    source = os.environ if environ is None else environ
    return {
        name: value
        for name, value in source.items()
        if not any(fnmatch.fnmatchcase(name.upper(), pattern) for pattern in SECRET_NAMES)
    }


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


# Looked up once, here: the child between fork and exec must not import or load.
_PRCTL = _load_prctl()


def _die_with_parent(parent: int) -> None:
    """In the child, between fork and exec: ask the kernel for SIGKILL when the
    parent goes, then make sure it has not gone already (it may die between the
    fork and this call, and then no signal would ever come).

    The kernel sends PDEATHSIG when the *thread* that forked exits, not the
    process. That is safe here because a child is only ever forked by
    `run_child`, which waits for it in that same thread: the forking thread
    (the main thread for a stitch, an `asyncio.to_thread` worker for a preview
    render) cannot end while the child runs, except by the whole process
    dying, which is exactly when the child must die. A caller that started a
    child and returned without waiting for it would break this; none may.
    The setting survives the exec, so it holds for ffmpeg itself."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


# The children running now, across threads, and whether the process is on its
# way out (then a new child is killed as soon as it is registered). Set and
# tuple operations are atomic under the GIL: either `stop_children` sees a child
# in the set or `run_child` sees the flag; no lock is needed.
_children: set[subprocess.Popen[bytes]] = set()
_stopping = False


def stop_children() -> None:
    """Kill every child still running, and any started from now on: for a
    process on its way out (interrupted), never one that goes on working.

    Each `run_child` waiting on one then returns (a non-zero exit code), so the
    threads they run in end at once instead of making the interruption wait for
    a render or a stitch to finish."""
    global _stopping
    _stopping = True
    for proc in tuple(_children):
        proc.kill()  # a no-op for one that has exited


def run_child(
    cmd: Sequence[str], *, timeout: float | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run `cmd` to its end, capturing its output; the one place a child starts.

    The child gets no stdin, `child_env()`, and dies with us (see
    `_die_with_parent`). On a timeout or any exception here (KeyboardInterrupt
    included) it is killed and reaped before this returns."""
    parent = os.getpid()
    with subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
        preexec_fn=lambda: _die_with_parent(parent),
    ) as proc:
        _children.add(proc)
        try:
            if _stopping:  # the process is on its way out: this one never gets going
                proc.kill()
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            # Popen's exit does not reap after a KeyboardInterrupt (it assumes the
            # terminal's SIGINT reached the child too): reap it here, it was killed.
            proc.kill()
            proc.wait()
            raise
        finally:
            _children.discard(proc)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def run_ffmpeg(args: Sequence[str], *, timeout: float | None = None) -> None:
    """Run ffmpeg with `args` (without the program name); raise FFmpegError on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    try:
        proc = run_child(cmd, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise FFmpegError(f"ffmpeg did not finish within {timeout} s") from exc
    except OSError as exc:
        raise EnvironmentProblem(f"cannot run ffmpeg ({cmd[0]}): {exc}") from exc
    if proc.returncode != 0:
        if _stopping:
            raise FFmpegError("ffmpeg stopped: storyboard was interrupted")
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


def probe(path: str | os.PathLike[str], *, file: BinaryIO | None = None) -> MediaInfo:
    """Probe a media file's container, first video stream and first audio stream.

    `file` is `path` already opened (`localfile.open_regular`): then it is what
    is read, so the file checked is the file probed."""
    p = Path(path)
    try:
        size = os.fstat(file.fileno()).st_size if file is not None else p.stat().st_size
        with av.open(file if file is not None else str(p), mode="r") as container:
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


def decode_ends(file: BinaryIO, *, seconds: float, max_frames: int) -> None:
    """Decode the first and the last `seconds` of `file`'s first video stream, strictly.

    A truncated, header-only or corrupt video probes well (its header is intact)
    and fails only when rendered; this finds it cheaply. Errors the decoder would
    conceal are errors here (`err_detect=explode`), and a stream whose packets end
    before its declared duration is truncated. At most `max_frames` frames are
    decoded at each end (a long GOP is not decoded whole); past them the packets
    are only read. Raises ProbeError saying what is wrong (without the path)."""
    try:
        file.seek(0)
        with av.open(file, mode="r") as container:
            if not container.streams.video:
                raise ProbeError("it has no video stream")
            stream = container.streams.video[0]
            stream.codec_context.options = {"err_detect": "explode"}
            duration = (container.duration or 0) / 1_000_000 or _stream_seconds(stream)
            base = stream.time_base or Fraction(1, 1_000_000)
            if not _decoded_span(container.demux(stream), base, seconds, max_frames)[0]:
                raise ProbeError(f"no picture decodes in its first {seconds:g} s")
            start = max(0.0, duration - seconds)
            if start <= 0:
                return
            container.seek(int(start / base), stream=stream, backward=True, any_frame=False)
            frames, reached = _decoded_span(container.demux(stream), base, None, max_frames)
            if reached < start:
                raise ProbeError(f"its pictures stop at {reached:.2f} s of {duration:.2f} s")
            if not frames:
                raise ProbeError(f"no picture decodes in its last {seconds:g} s")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise ProbeError(_av_reason(exc)) from exc


def _decoded_span(
    packets: Iterator[av.Packet], base: Fraction, until: float | None, max_frames: int
) -> tuple[int, float]:
    """Decode packets up to the time `until` (None: to the end) or `max_frames`
    frames, then only read them; (frames decoded, the latest packet time seen)."""
    frames, reached = 0, 0.0
    for packet in packets:
        stamp = packet.pts if packet.pts is not None else packet.dts
        when = float(stamp * base) if stamp is not None else reached
        if until is not None and when > until and frames:
            break
        reached = max(reached, when)
        if frames < max_frames:
            frames += len(packet.decode())
    return frames, reached


def _av_reason(exc: Exception) -> str:
    """FFmpeg's own words for a decode error, without errno and function names."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc)


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
        raise ValueError(f"which must be 'first' or 'last', not {which!r}")
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
            return frame.to_image()
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
    if not url.startswith("data:") and len(url) < 4096 and _is_local_file(url):
        return Path(url)
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
        scratch.atomic_write(path, raw)
    return path


def _is_local_file(text: str) -> bool:
    """An absolute path to an existing file? Base64 can look like a path, and a
    long one is a name the OS refuses (OSError): then it is not a file."""
    try:
        return Path(text).is_absolute() and Path(text).is_file()
    except OSError:
        return False


def decode_check_ffmpeg(
    path: str | os.PathLike[str],
    *,
    video: bool = True,
    audio: bool = True,
    timeout: float | None = None,
) -> None:
    """Decode the chosen streams of `path` to nothing with ffmpeg's multithreaded
    decoders; raise ProbeError on any decode error or corrupt frame (`-xerror`).

    Several times faster than `decode_check` on long films, which is what makes
    verifying every frame of a finished film affordable."""
    maps = [m for want, m in ((video, "0:v?"), (audio, "0:a?")) if want]
    if not maps:
        raise ValueError("decode at least one of video and audio")
    args = ["-xerror", "-threads", "0", "-i", str(path)]
    for m in maps:
        args += ["-map", m]
    try:
        run_ffmpeg([*args, "-f", "null", "-"], timeout=timeout)
    except FFmpegError as exc:
        raise ProbeError(f"{path}: decode failed ({exc})") from exc


@dataclass(frozen=True)
class VideoPackets:
    """The coded pictures of a file's first video stream, to prove a stream copy exact.

    `digests` has one entry per packet in decode order. H.264 parameter sets
    (SPS/PPS) are left out of them: a copy may repeat them inside keyframes,
    which changes the bytes but not a single decoded picture."""

    extradata: bytes
    keyframe_first: bool
    digests: tuple[bytes, ...]


_H264_PARAMETER_SETS = frozenset({7, 8})  # NAL unit types of SPS and PPS


def _without_parameter_sets(data: bytes, length_size: int) -> bytes:
    """The NAL units of one length-prefixed (avcC) H.264 packet, SPS/PPS left out."""
    kept, i = bytearray(), 0
    while i + length_size <= len(data):
        size = int.from_bytes(data[i : i + length_size], "big")
        nal = data[i + length_size : i + length_size + size]
        if not nal or nal[0] & 0x1F not in _H264_PARAMETER_SETS:
            kept += data[i : i + length_size + size]
        i += length_size + size
    return bytes(kept + data[i:])


def video_packets(path: str | os.PathLike[str], *, limit: int | None = None) -> VideoPackets:
    """Digest every video packet of `path` (or the first `limit`) without decoding."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ProbeError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            extradata = bytes(stream.codec_context.extradata or b"")
            avcc = stream.codec_context.name == "h264" and extradata[:1] == b"\x01"
            length_size = (extradata[4] & 3) + 1 if avcc and len(extradata) > 4 else 0
            digests: list[bytes] = []
            keyframe_first = False
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if not digests:
                    keyframe_first = bool(packet.is_keyframe)
                data = bytes(packet)
                if length_size:
                    data = _without_parameter_sets(data, length_size)
                digests.append(hashlib.blake2b(data, digest_size=16).digest())
                if limit is not None and len(digests) >= limit:
                    break
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise ProbeError(f"{path}: cannot read video packets ({exc})") from exc
    return VideoPackets(extradata, keyframe_first, tuple(digests))


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
    if width is None or frame.width <= width:
        return frame.to_image()
    height = max(2, round(frame.height * width / frame.width / 2) * 2)
    return frame.to_image(width=width, height=height)
