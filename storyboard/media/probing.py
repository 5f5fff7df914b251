"""Probing media with PyAV (no ffprobe binary needed): what a file holds, whether
its ends decode, whether all of it decodes, and its coded pictures (digests,
timestamps, keyframes, the encoder's own settings); and splicing coded
pictures of several files into one video, packet for packet.

Foreign errors (av, the file system) become `ProbeError` here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av

from storyboard.errors import FFmpegError, MediaError, ProbeError
from storyboard.media.process import run_ffmpeg


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
    packets: Iterator[av.Packet[av.VideoStream]],
    base: Fraction,
    until: float | None,
    max_frames: int,
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


def decode_check_ffmpeg(
    path: str | os.PathLike[str],
    *,
    video: bool = True,
    audio: bool = True,
    timeout: float | None = None,
) -> None:
    """Decode the chosen streams of `path` to nothing with ffmpeg's multithreaded
    decoders; raise ProbeError on any decode error or corrupt frame (`-xerror`).

    Several times faster than decoding with PyAV on long films, which is what
    makes verifying every frame of a finished film affordable."""
    maps = [m for want, m in ((video, "0:v?"), (audio, "0:a?")) if want]
    if not maps:
        raise MediaError(f"{path}: nothing to decode (neither video nor audio asked for)")
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


@dataclass(frozen=True)
class CodedPacket:
    """One coded picture: its timestamps (in the stream's time base), whether it
    is a keyframe, and its digest (as in `VideoPackets`)."""

    pts: int
    dts: int
    keyframe: bool
    digest: bytes


@dataclass(frozen=True)
class CodedVideo:
    """A file's first video stream as coded: every packet in decode order, the
    parameter sets (`extradata`), and x264's options line when x264 wrote one
    into its first picture (SEI), "" otherwise."""

    extradata: bytes
    time_base: Fraction
    packets: tuple[CodedPacket, ...]
    x264_options: str


_X264_MARK = b"x264 - core"
_X264_OPTIONS = b"options: "


def _x264_options(data: bytes) -> str:
    """The `options: ...` line x264 writes into the SEI of its first picture."""
    at = data.find(_X264_MARK)
    if at < 0:
        return ""
    end = data.find(b"\x00", at)
    line = data[at : end if end >= 0 else len(data)]
    _, _, options = line.partition(_X264_OPTIONS)
    return options.decode("ascii", "replace").strip()


def coded_video(path: str | os.PathLike[str], *, limit: int | None = None) -> CodedVideo:
    """Read every video packet of `path` (or the first `limit`) without decoding."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ProbeError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            extradata = bytes(stream.codec_context.extradata or b"")
            avcc = stream.codec_context.name == "h264" and extradata[:1] == b"\x01"
            length_size = (extradata[4] & 3) + 1 if avcc and len(extradata) > 4 else 0
            packets: list[CodedPacket] = []
            options = ""
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                data = bytes(packet)
                if not packets:
                    options = _x264_options(data)
                if length_size:
                    data = _without_parameter_sets(data, length_size)
                digest = hashlib.blake2b(data, digest_size=16).digest()
                dts = packet.dts if packet.dts is not None else packet.pts
                pts = packet.pts if packet.pts is not None else dts
                packets.append(CodedPacket(pts or 0, dts or 0, bool(packet.is_keyframe), digest))
                if limit is not None and len(packets) >= limit:
                    break
            base = stream.time_base or Fraction(1, 1_000_000)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise ProbeError(f"{path}: cannot read video packets ({exc})") from exc
    return CodedVideo(extradata, base, tuple(packets), options)


def video_packets(path: str | os.PathLike[str], *, limit: int | None = None) -> VideoPackets:
    """Digest every video packet of `path` (or the first `limit`) without decoding."""
    coded = coded_video(path, limit=limit)
    first = bool(coded.packets) and coded.packets[0].keyframe
    return VideoPackets(coded.extradata, first, tuple(p.digest for p in coded.packets))


@dataclass(frozen=True)
class SplicePart:
    """Packets `first` to `first + count` (decode order) of `path`'s video, shown
    from `at` seconds of the spliced video on. The part must be closed: its
    first packet starts a picture sequence nothing before it refers to."""

    path: Path
    first: int
    count: int
    at: Fraction


def splice_video(parts: Sequence[SplicePart], out: Path, *, rate: int) -> str | None:
    """Write the parts' packets, as they are, one after the other into `out` (MP4,
    video only, the first part's codec parameters); None when done, else why the
    parts cannot be joined (their decode timestamps would not keep increasing).

    Each part's timestamps are rebased so that its earliest picture shows at its
    `at`, each packet keeping its own pts-dts offset (B-frames stay in order).
    Every part's pictures last 1/`rate` s."""
    base = Fraction(1, rate * _TICKS_PER_FRAME)
    try:
        with av.open(str(out), mode="w", format="mp4") as output:
            stream: av.VideoStream | None = None
            last_dts: int | None = None
            for part in parts:
                with av.open(str(part.path)) as source:
                    video = source.streams.video[0]
                    if stream is None:
                        stream = output.add_stream_from_template(video)
                        stream.time_base = base
                    taken = _part_packets(source, video, part)
                    tb = video.time_base or Fraction(1, 1_000_000)
                    anchor = min(p.pts if p.pts is not None else 0 for p in taken)
                    start = round(part.at / base)
                    for packet in taken:
                        pts = packet.pts if packet.pts is not None else anchor
                        dts = packet.dts if packet.dts is not None else pts
                        packet.pts = start + round((pts - anchor) * tb / base)
                        packet.dts = start + round((dts - anchor) * tb / base)
                        if last_dts is not None and packet.dts <= last_dts:
                            return f"decode times would not increase at {float(part.at):.3f} s"
                        last_dts = packet.dts
                        packet.duration = _TICKS_PER_FRAME
                        packet.time_base = base
                        packet.stream = stream
                        output.mux(packet)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise ProbeError(f"cannot splice the film's pictures into {out} ({exc})") from exc
    return None


_TICKS_PER_FRAME = 512  # what ffmpeg's MP4 muxer uses at 24 fps (1/12288)


def _part_packets(
    source: av.container.InputContainer, video: av.VideoStream, part: SplicePart
) -> list[av.Packet[av.VideoStream]]:
    taken: list[av.Packet[av.VideoStream]] = []
    index = 0
    for packet in source.demux(video):
        if packet.size == 0:
            continue
        if index >= part.first:
            taken.append(packet)
            if len(taken) == part.count:
                break
        index += 1
    if len(taken) != part.count:
        raise ProbeError(f"{part.path}: holds {index} packets, not {part.first + part.count}")
    return taken
