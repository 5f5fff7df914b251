"""The film as ffmpeg runs, built with ffmpeg-python: the stitcher's plan made concrete.

Everything here is pure: it turns `Piece`s (clips with trims and joins
already resolved to whole frames by `storyboard.film.stitch`) into ffmpeg
argument lists; `storyboard.media.run_ffmpeg` runs them.

Sync is kept by construction, never by trusting container timestamps: every
piece is exactly `frames` frames of picture and `frames * SAMPLES_PER_FRAME`
samples of sound (its audio aligned to its own video clock, then padded with
silence or cut), so a cut in the picture is a cut in the sound to the sample.
Joining then only adds or overlaps whole frames on both sides alike.

Every run shares that audio: `loudness_args` measures it (EBU R128),
`copy_args` puts it under the clips' video copied as is (concat demuxer), and
`encode_args` builds the whole film in one filter graph. A smart render
encodes only some stretches of picture (`segment_args`, the same graph
without sound), the sound on its own (`sound_args`), and copies both into
the film (`mux_args`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ffmpeg

from storyboard.language.montage import Audio
from storyboard.provider import api

FPS = api.OUTPUT_FPS  # the film plays at its clips' rate (R14), so no clip is retimed
SAMPLE_RATE = 48_000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS
CHANNELS = "stereo"
PIXEL_FORMAT = "yuv420p"
SILENCE = f"anullsrc=r={SAMPLE_RATE}:cl={CHANNELS}"
# A clip may decode up to this many frames short of what its probe promised
# (frame-rate conversion rounds); its last frame is held. A clip shorter than
# that is truncated, and verification reports the film's missing frames.
HOLD_FRAMES = 2
# Equal-power curves for overlapping sound: two different clips crossfaded
# keep their loudness through the overlap instead of dipping by 3 dB.
CROSSFADE_CURVE = "qsin"
# Any value other than ffmpeg's default: only there to keep repeated inputs apart.
INPUT_QUEUE = 64
# Ducking: the music drops by up to RATIO:1 while the clips' own sound is above
# THRESHOLD (linear), within ATTACK ms, and comes back over RELEASE ms.
DUCK_THRESHOLD = 0.02
DUCK_RATIO = 8
DUCK_ATTACK_MS = 20
DUCK_RELEASE_MS = 400

Join = Literal["cut", "fade", "overlap"]


@dataclass(frozen=True)
class Piece:
    """One clip as the film uses it, in whole frames at FPS.

    `join` is how it is entered from the previous piece: "cut"; "fade"
    (through black: the previous piece's `fade_out` frames, then this one's
    `fade_in` frames, nothing overlaps); "overlap" (`overlap` frames of the
    two play at once through the xfade transition `xfade`). The first piece
    is always entered by "cut"; its `fade_in` is a fade from black."""

    path: Path
    size: tuple[int, int]
    has_audio: bool
    start: int  # first frame of the clip kept (the trim's start)
    frames: int  # frames it contributes before overlaps
    join: Join = "cut"
    xfade: str = "fade"
    overlap: int = 0
    fade_in: int = 0
    fade_out: int = 0


@dataclass(frozen=True)
class Gain:
    """Loudness correction: `db` of gain, then a peak limiter at `limit` (linear) if set."""

    db: float
    limit: float | None = None


@dataclass(frozen=True)
class Encoding:
    size: tuple[int, int]
    crf: int
    preset: str
    audio_bitrate: str


@dataclass(frozen=True)
class X264:
    """x264 settings for re-encoded stretches of a smart render: the ones the
    copied clips were made with, so that the parameter sets come out the same."""

    preset: str
    crf: str
    keyint: int | None = None


def _args(output: Any) -> list[str]:
    """An ffmpeg-python output node's command-line arguments (the library is untyped)."""
    return [str(arg) for arg in output.get_args()]


def film_frames(pieces: Sequence[Piece]) -> int:
    """The cut's arithmetic: every piece's frames, less the overlaps."""
    return sum(p.frames - p.overlap for p in pieces)


def concat_list(pieces: Sequence[Piece]) -> str:
    """The concat demuxer's list for a stream copy. Each file's `duration` is its
    exact picture length, so the next clip's pictures start on the right frame
    whatever its sound's AAC padding says about the file's length."""
    lines = ["ffconcat version 1.0"]
    for p in pieces:
        quoted = str(p.path.resolve()).replace("'", "'\\''")
        lines += [f"file '{quoted}'", f"duration {p.frames / FPS!r}"]
    return "\n".join(lines) + "\n"


class _Inputs:
    """Opens ffmpeg inputs so that each is its own node.

    ffmpeg-python merges equal input nodes into one, but a clip cut in twice
    (or a second silent clip) must not share one decoder through `split`: it
    would hold every decoded frame until the second use. Each repeat of a
    name gets a distinct, harmless `thread_queue_size` instead."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def _open(self, name: str, **options: Any) -> Any:
        seen = self._seen.get(name, 0)
        self._seen[name] = seen + 1
        if seen:
            options["thread_queue_size"] = INPUT_QUEUE + seen
        return ffmpeg.input(name, **options)

    def picture(self, piece: Piece) -> Any:
        return self._open(str(piece.path)).video

    def sound(self, piece: Piece) -> Any:
        if not piece.has_audio:
            return self._open(SILENCE, f="lavfi").audio
        # Sound only: do not even demux the picture.
        return self._open(str(piece.path), **{"discard:v": "all"}).audio


def _piece_audio(source: Any, piece: Piece) -> Any:
    """Exactly the piece's length in samples: aligned to the clip's video clock
    (`first_pts=0` pads a late start, drops encoder priming), trimmed, padded."""
    first, count = piece.start * SAMPLES_PER_FRAME, piece.frames * SAMPLES_PER_FRAME
    audio = (
        source.filter("aresample", SAMPLE_RATE, first_pts=0)
        .filter("aformat", sample_fmts="fltp", sample_rates=SAMPLE_RATE, channel_layouts=CHANNELS)
        .filter("atrim", start_sample=first, end_sample=first + count)
        .filter("apad", whole_len=count)
        .filter("atrim", end_sample=count)
        .filter("asetpts", f"N/{SAMPLE_RATE}/TB")
    )
    if piece.fade_in:
        audio = audio.filter("afade", type="in", ss=0, ns=piece.fade_in * SAMPLES_PER_FRAME)
    if piece.fade_out:
        start = (piece.frames - piece.fade_out) * SAMPLES_PER_FRAME
        audio = audio.filter("afade", type="out", ss=start, ns=piece.fade_out * SAMPLES_PER_FRAME)
    return audio


def _piece_video(source: Any, piece: Piece, size: tuple[int, int]) -> Any:
    """Exactly `frames` frames at FPS, in the film's size (scaled to fit, padded black)."""
    w, h = size
    video = (
        source.filter("fps", FPS)
        .trim(start_frame=piece.start, end_frame=piece.start + piece.frames)
        .setpts(f"N/{FPS}/TB")
    )
    if piece.size != size:
        video = video.filter(
            "scale", w, h, force_original_aspect_ratio="decrease", force_divisible_by=2
        ).filter("pad", w, h, "(ow-iw)/2", "(oh-ih)/2", color="black")
    video = (
        video.filter("setsar", 1)
        .filter("format", PIXEL_FORMAT)
        .filter("tpad", stop_mode="clone", stop=HOLD_FRAMES)
        .trim(end_frame=piece.frames)
        .setpts(f"N/{FPS}/TB")
    )
    if piece.fade_in:
        video = video.filter("fade", type="in", start_frame=0, nb_frames=piece.fade_in)
    if piece.fade_out:
        start = piece.frames - piece.fade_out
        video = video.filter("fade", type="out", start_frame=start, nb_frames=piece.fade_out)
    return video


def _runs(pieces: Sequence[Piece]) -> list[list[int]]:
    """Indices of pieces grouped into runs joined end to end (cuts, fades);
    each run overlaps the one before it."""
    runs: list[list[int]] = []
    for i, piece in enumerate(pieces):
        if not runs or piece.join == "overlap":
            runs.append([i])
        else:
            runs[-1].append(i)
    return runs


def _join(pieces: Sequence[Piece], streams: list[Any], *, video: bool) -> Any:
    """Concatenate each run; overlap consecutive runs (xfade for the picture,
    acrossfade for the sound) over the same whole frames."""
    joined, length = None, 0
    for run in _runs(pieces):
        part = streams[run[0]]
        if len(run) > 1:
            part = ffmpeg.concat(*(streams[i] for i in run), v=int(video), a=int(not video))
            if video:  # concat answers in microseconds; xfade wants both inputs in frames
                part = part.filter("settb", f"1/{FPS}")
        head = pieces[run[0]]
        if joined is None:
            joined = part
        elif video:
            joined = ffmpeg.filter(
                [joined, part],
                "xfade",
                transition=head.xfade,
                duration=head.overlap / FPS,
                offset=(length - head.overlap) / FPS,
            )
        else:
            joined = ffmpeg.filter(
                [joined, part],
                "acrossfade",
                ns=head.overlap * SAMPLES_PER_FRAME,
                c1=CROSSFADE_CURVE,
                c2=CROSSFADE_CURVE,
            )
        length += sum(pieces[i].frames for i in run) - head.overlap
    return joined


def _with_music(clips: Any, music: Audio | None, frames: int) -> Any:
    """The clips' sound with the music bed under it, looped or cut to the film."""
    if music is None:
        return clips
    samples = frames * SAMPLES_PER_FRAME
    source = ffmpeg.input(music.music, **({"stream_loop": -1} if music.loop else {}))
    bed = (
        source.audio.filter(
            "aformat", sample_fmts="fltp", sample_rates=SAMPLE_RATE, channel_layouts=CHANNELS
        )
        .filter("apad", whole_len=samples)
        .filter("atrim", end_sample=samples)
        .filter("asetpts", f"N/{SAMPLE_RATE}/TB")
        .filter("volume", music.volume)
    )
    fade_in = min(samples, round(music.fade_in * SAMPLE_RATE))
    fade_out = min(samples, round(music.fade_out * SAMPLE_RATE))
    if fade_in:
        bed = bed.filter("afade", type="in", ss=0, ns=fade_in)
    if fade_out:
        bed = bed.filter("afade", type="out", ss=samples - fade_out, ns=fade_out)
    if music.duck:
        split = clips.filter_multi_output("asplit", 2)
        clips, key = split.stream(0), split.stream(1)
        bed = ffmpeg.filter(
            [bed, key],
            "sidechaincompress",
            threshold=DUCK_THRESHOLD,
            ratio=DUCK_RATIO,
            attack=DUCK_ATTACK_MS,
            release=DUCK_RELEASE_MS,
        )
    return ffmpeg.filter(
        [clips, bed], "amix", inputs=2, duration="first", normalize=0, dropout_transition=0
    )


def _finish_audio(audio: Any, gain: Gain | None) -> Any:
    if gain is not None and gain.db:
        audio = audio.filter("volume", f"{gain.db:.3f}dB")
    if gain is not None and gain.limit is not None:
        # level=0: no auto make-up gain; latency=1: no lookahead delay (sync).
        audio = audio.filter("alimiter", limit=gain.limit, level=0, latency=1)
    return audio.filter(
        "aformat", sample_fmts="fltp", sample_rates=SAMPLE_RATE, channel_layouts=CHANNELS
    )


def film_audio(pieces: Sequence[Piece], music: Audio | None) -> Any:
    """The film's sound before loudness correction, from sound-only inputs."""
    inputs = _Inputs()
    audio = [_piece_audio(inputs.sound(p), p) for p in pieces]
    return _with_music(_join(pieces, audio, video=False), music, film_frames(pieces))


def loudness_args(pieces: Sequence[Piece], music: Audio | None, report: Path) -> list[str]:
    """Measure the film's sound (BS.1770 integrated loudness and true peak), writing
    ebur128's running values to `report`; nothing else is decoded or written."""
    audio = (
        film_audio(pieces, music)
        .filter("ebur128", peak="true", metadata=1)
        .filter("ametadata", mode="print", file=str(report))
    )
    return _args(ffmpeg.output(audio, "-", f="null"))


def _audio_options(enc: Encoding) -> dict[str, Any]:
    return {
        "acodec": "aac",
        "audio_bitrate": enc.audio_bitrate,
        "ar": SAMPLE_RATE,
        "ac": 2,
        "movflags": "+faststart",
        "format": "mp4",
    }


def copy_args(
    pieces: Sequence[Piece],
    music: Audio | None,
    gain: Gain | None,
    enc: Encoding,
    concat: Path,
    out: Path,
) -> list[str]:
    """Video copied packet for packet through the concat demuxer (`concat` is the
    file `concat_list` wrote); sound rebuilt per clip and encoded once."""
    video = ffmpeg.input(str(concat), f="concat", safe=0).video
    audio = _finish_audio(film_audio(pieces, music), gain)
    output = ffmpeg.output(video, audio, str(out), vcodec="copy", **_audio_options(enc))
    return _args(output.overwrite_output())


def sound_args(
    pieces: Sequence[Piece], music: Audio | None, gain: Gain | None, enc: Encoding, out: Path
) -> list[str]:
    """The film's sound alone, rebuilt per clip as on the other paths and encoded
    into `out` (an M4A): a smart render encodes it while the picture is re-encoded."""
    audio = _finish_audio(film_audio(pieces, music), gain)
    return _args(ffmpeg.output(audio, str(out), **_audio_options(enc)).overwrite_output())


def mux_args(video: Path, sound: Path, out: Path) -> list[str]:
    """The smart render's last run: the spliced picture and the encoded sound, both
    copied as they are into the film."""
    picture, audio = ffmpeg.input(str(video)).video, ffmpeg.input(str(sound)).audio
    output = ffmpeg.output(
        picture, audio, str(out), vcodec="copy", acodec="copy", movflags="+faststart", format="mp4"
    )
    return _args(output.overwrite_output())


def segment_args(
    pieces: Sequence[Piece], size: tuple[int, int], x264: X264, out: Path
) -> list[str]:
    """A stretch of the film's picture alone (no sound), as `encode_args` would make
    it, encoded with `x264` into an MP4 of its own."""
    inputs = _Inputs()
    video = [_piece_video(inputs.picture(p), p, size) for p in pieces]
    keyint = {"g": x264.keyint} if x264.keyint else {}
    output = ffmpeg.output(
        _join(pieces, video, video=True),
        str(out),
        vcodec="libx264",
        preset=x264.preset,
        crf=x264.crf,
        pix_fmt=PIXEL_FORMAT,
        r=FPS,
        format="mp4",
        **keyint,
    )
    return _args(output.overwrite_output())


def encode_args(
    pieces: Sequence[Piece],
    music: Audio | None,
    gain: Gain | None,
    enc: Encoding,
    out: Path,
) -> list[str]:
    """The whole film in one filter graph: trims, sizes, fades, overlaps, music, loudness."""
    inputs = _Inputs()
    video = [_piece_video(inputs.picture(p), p, enc.size) for p in pieces]
    audio = _finish_audio(film_audio(pieces, music), gain)
    output = ffmpeg.output(
        _join(pieces, video, video=True),
        audio,
        str(out),
        vcodec="libx264",
        preset=enc.preset,
        crf=enc.crf,
        pix_fmt=PIXEL_FORMAT,
        r=FPS,
        **_audio_options(enc),
    )
    return _args(output.overwrite_output())


def check_args(
    film: Path, thumbs: Sequence[int], poster: int, width: int, thumb_dir: Path, poster_png: Path
) -> list[str]:
    """Decode every frame and sample of `film`, any error fatal (`-xerror`), keeping
    on the way the frames numbered `thumbs` (scaled to `width`, as thumb_dir/NNN.png
    in frame order) and frame `poster` (full size): pictures for free from a decode
    that verification needs anyway."""
    source = ffmpeg.input(str(film), threads=0)
    split = source.video.filter_multi_output("split", 2)
    chosen = "+".join(f"eq(n,{n})" for n in sorted(set(thumbs)))
    small = split.stream(0).filter("select", chosen).filter("scale", width, -2)
    big = split.stream(1).filter("select", f"eq(n,{poster})")
    # passthrough: only the selected frames are written, never repeated to fill time.
    outputs = ffmpeg.merge_outputs(
        ffmpeg.output(small, str(thumb_dir / "%03d.png"), fps_mode="passthrough"),
        ffmpeg.output(big, str(poster_png), fps_mode="passthrough", update=1),
        ffmpeg.output(source.audio, "-", f="null"),
    )
    return ["-xerror", *_args(outputs.overwrite_output())]
