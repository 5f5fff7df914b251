"""The stitcher: every kind of cut measured in the film it writes, not trusted.

Clips are made here with ffmpeg (colour or test-pattern pictures, a sine tone
per clip) so that a film can be checked by what it shows and sounds like: a
crossfade frame is a mix of its two colours, each clip's tone starts where
the picture's arithmetic says its cut is, music is heard where it should be,
loudness is measured by ffmpeg's loudnorm (an implementation independent of
the ebur128 filter the stitcher uses).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from storyboard.errors import ProbeError, StitchError, VerificationError
from storyboard.film.stitch import (
    Audio,
    CutClip,
    ShotMark,
    StitchOptions,
    StitchResult,
    Transition,
    stitch,
)
from storyboard.media import decode_check_ffmpeg, ffmpeg_exe, probe, run_ffmpeg, video_packets

FPS = 24
FRAME = 1 / FPS
RATE = 8000  # sound is analysed as mono at this rate
CUT = Transition("cut", 0)
QUICK = StitchOptions(preset="ultrafast", loudness=None)  # re-encodes without the wait
SMALL = "160x120"


# --- media made for the tests -----------------------------------------------------


def make_clip(
    path: Path,
    *,
    seconds: float = 1.0,
    size: str = SMALL,
    tone: float | None = None,
    colour: str | None = None,
    fps: int = FPS,
    volume: float = 2.0,  # sine's own amplitude is 1/8: 0.25 peak
    faststart: bool = False,
    extra_sound: float = 0.0,
) -> Path:
    """A clip of `colour` (else a moving test pattern), with a sine `tone` or no sound
    (lasting `extra_sound` seconds longer than the picture, as some clips do)."""
    picture = (
        f"color=c={colour}:s={size}:r={fps}:d={seconds}"
        if colour
        else f"testsrc2=s={size}:r={fps}:d={seconds}"
    )
    args = ["-f", "lavfi", "-i", picture]
    if tone is not None:
        sound = f"sine=f={tone}:r=48000:d={seconds + extra_sound},volume={volume}"
        args += ["-f", "lavfi", "-i", sound, "-c:a", "aac", "-b:a", "96k", "-ac", "2"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if faststart:
        args += ["-movflags", "+faststart"]
    run_ffmpeg([*args, str(path)])
    return path


def make_tone(path: Path, *, seconds: float, tone: float, volume: float = 2.0) -> Path:
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            f"sine=f={tone}:r=48000:d={seconds},volume={volume}",
            "-ac",
            "2",
            "-c:a",
            "aac",
            str(path),
        ]
    )
    return path


def clip(path: Path, label: str | None = None, **kw: object) -> CutClip:
    trim = kw.get("trim")
    transition = kw.get("transition", CUT)
    shots = kw.get("shots", ())
    assert isinstance(transition, Transition)
    return CutClip(path, label or path.stem, trim, transition, shots)  # type: ignore[arg-type]


TONES = [400.0 + 200.0 * k for k in range(12)]  # far enough apart to tell in 20 ms


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("stitch-media")
    for k, tone in enumerate(TONES):  # 12 clips of 1, 1.5 or 2 s, each with its own tone
        extra = 0.05 if k % 4 == 1 else 0.0  # some with sound running on past the picture
        make_clip(d / f"tone{k:02d}.mp4", seconds=1.0 + 0.5 * (k % 3), tone=tone, extra_sound=extra)
    make_clip(d / "red.mp4", seconds=2, colour="red", tone=TONES[0])
    make_clip(d / "blue.mp4", seconds=2, colour="blue", tone=TONES[5])
    make_clip(d / "green.mp4", seconds=2, colour="green", tone=TONES[10])
    make_clip(d / "silent.mp4", seconds=1.5)
    make_clip(d / "hd.mp4", size="1280x720", colour="red", tone=TONES[1])
    make_clip(d / "fullhd.mp4", size="1920x1080", colour="blue", tone=TONES[2], fps=30)
    make_clip(d / "tall.mp4", size="720x1280", colour="white", tone=TONES[3])
    make_clip(d / "pattern3s.mp4", seconds=3, tone=TONES[4])
    make_tone(d / "music1s.m4a", seconds=1.0, tone=300.0)
    make_tone(d / "music10s.m4a", seconds=10.0, tone=300.0)
    return d


# --- measuring sound and pictures ---------------------------------------------------


def mono(path: Path) -> tuple[np.ndarray, float]:
    """The film's sound as mono floats at RATE, and the time of its first sample."""
    chunks, start = [], None
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        for frame in container.decode(container.streams.audio[0]):
            if start is None:
                start = float(frame.time or 0.0)
            chunks += [out.to_ndarray().ravel() for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().ravel() for out in resampler.resample(None)]
    return np.concatenate(chunks), start or 0.0


def window_power(x: np.ndarray, freq: float, window: int) -> np.ndarray:
    """|DFT at freq| of every `window`-sample stretch of x (a sliding Goertzel)."""
    n = np.arange(len(x))
    sums = np.concatenate([[0], np.cumsum(x * np.exp(-2j * np.pi * freq * n / RATE))])
    return np.abs(sums[window:] - sums[:-window]) * 2 / window


def tone_onset(
    sound: tuple[np.ndarray, float],
    old: float | None,
    new: float,
    near: float,
    reach: float = 0.4,
) -> float:
    """When tone `new` takes over from tone `old` (or from silence), searched within
    `reach` s of `near`: the centre of the first 20 ms window where `new` is louder
    than `old` and has reached half its level."""
    x, start = sound
    window, span = round(0.02 * RATE), round(reach * RATE)
    centre = round((near - start) * RATE)
    lo, hi = max(0, centre - span), min(len(x), centre + span)
    rising = window_power(x[lo:hi], new, window)
    falling = window_power(x[lo:hi], old, window) if old is not None else 0 * rising
    taken = (rising > falling) & (rising > rising.max() / 2)
    assert taken.any(), f"tone {new} Hz never starts near {near:.3f} s"
    first = int(np.argmax(taken))
    return start + (lo + first + window / 2) / RATE


def level(sound: tuple[np.ndarray, float], freq: float, t0: float, t1: float) -> float:
    """Amplitude of `freq` between t0 and t1 seconds."""
    x, start = sound
    part = x[round((t0 - start) * RATE) : round((t1 - start) * RATE)]
    n = np.arange(len(part))
    return float(np.abs(np.sum(part * np.exp(-2j * np.pi * freq * n / RATE))) * 2 / len(part))


def rms(sound: tuple[np.ndarray, float], t0: float, t1: float) -> float:
    x, start = sound
    part = x[round((t0 - start) * RATE) : round((t1 - start) * RATE)]
    return float(np.sqrt(np.mean(part**2)))


def frame(path: Path, index: int) -> np.ndarray:
    """Frame `index` of `path` as an RGB array."""
    with av.open(str(path)) as container:
        for n, decoded in enumerate(container.decode(video=0)):
            if n == index:
                return decoded.to_ndarray(format="rgb24").astype(float)
    raise AssertionError(f"{path} has no frame {index}")


def nearest_frame(picture: np.ndarray, path: Path, candidates: range) -> int:
    """The index of the frame of `path` that looks most like `picture`."""
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24").astype(float) for f in container.decode(video=0)]
    return min(candidates, key=lambda n: float(np.abs(decoded[n] - picture).mean()))


def integrated_loudness(path: Path) -> float:
    """ffmpeg's loudnorm analysis of the film (its own BS.1770 code, not ebur128's)."""
    analyse = ["-af", "loudnorm=print_format=json", "-f", "null", "-"]
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-vn", *analyse],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"\{[^{}]*\"input_i\"[^{}]*\}", proc.stderr)
    assert found, proc.stderr[-500:]
    return float(json.loads(found.group(0))["input_i"])


def assert_film(result: StitchResult, expected: float) -> None:
    """The film on disk (probed here, not taken from the result) lasts `expected`."""
    info = probe(result.path)
    assert abs(info.video_duration - expected) < FRAME / 2, (info.video_duration, expected)
    assert info.frames == round(expected * FPS)
    assert abs(info.audio_duration - info.video_duration) < FRAME
    assert info.fps == FPS and info.has_audio and info.video_codec == "h264"
    assert abs(result.expected - expected) < 1e-9


# --- hard cuts: stream copy, sound in sync --------------------------------------------


def test_twelve_hard_cuts_keep_every_cut_in_sync(media: Path, tmp_path: Path) -> None:
    paths = [media / f"tone{k:02d}.mp4" for k in range(12)]
    result = stitch([clip(p) for p in paths], tmp_path / "film.mp4")
    lengths = [probe(p).frames / FPS for p in paths]  # type: ignore[operator]
    assert result.method == "copy"
    assert_film(result, sum(lengths))
    sound = mono(result.path)
    cuts = np.cumsum(lengths)[:-1]
    offsets = [tone_onset(sound, TONES[k], TONES[k + 1], cut) - cut for k, cut in enumerate(cuts)]
    assert max(abs(o) for o in offsets) <= FRAME, [round(o * 1000, 1) for o in offsets]
    # The picture is the clips' own packets, in order (stream copy, no re-encode).
    copied = [d for p in paths for d in video_packets(p).digests]
    assert video_packets(result.path).digests == tuple(copied)


def test_the_sync_measure_sees_a_plain_copy_drift(media: Path, tmp_path: Path) -> None:
    """Why the sound is rebuilt: the same measure on a bare `-c copy` concat of the
    same clips finds the last cuts more than a frame late."""
    paths = [media / f"tone{k:02d}.mp4" for k in range(12)]
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in paths), encoding="utf-8")
    plain = tmp_path / "plain.mp4"
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(plain)])
    lengths = [probe(p).frames / FPS for p in paths]  # type: ignore[operator]
    sound = mono(plain)
    cut = sum(lengths[:-1])
    assert tone_onset(sound, TONES[10], TONES[11], cut, reach=1.5) - cut > FRAME


def test_silent_clip_between_sounding_clips(media: Path, tmp_path: Path) -> None:
    names = ["tone00", "silent", "tone01"]
    result = stitch([clip(media / f"{n}.mp4") for n in names], tmp_path / "film.mp4")
    assert result.method == "copy"  # sound is rebuilt anyway; the picture still copies
    assert_film(result, 1.0 + 1.5 + 1.5)
    sound = mono(result.path)
    assert rms(sound, 1.1, 2.4) < 1e-3  # the silent clip stays silent
    assert level(sound, TONES[0], 0.2, 0.8) > 0.1
    assert abs(tone_onset(sound, None, TONES[1], 2.5) - 2.5) <= FRAME


# --- transitions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "seconds", "length"),
    [
        ("fade", 1.0, 6.0),  # through black: nothing overlaps
        ("crossfade", 0.5, 5.0),  # two overlaps of 0.5 s
        ("wipeleft", 0.5, 5.0),
        ("circleopen", 1.0, 4.0),
        ("slideup", 0.5, 5.0),
    ],
)
def test_transition(media: Path, tmp_path: Path, kind: str, seconds: float, length: float) -> None:
    into = Transition(kind, seconds)
    cut = [
        clip(media / "red.mp4"),
        clip(media / "blue.mp4", transition=into),
        clip(media / "green.mp4", transition=into),
    ]
    result = stitch(cut, tmp_path / "film.mp4", options=QUICK)
    assert result.method == "encode"
    assert_film(result, length)
    sound = mono(result.path)
    if kind == "fade":
        # The picture goes to black at the cut (2 s) and the sound to silence.
        for n in (47, 48):
            assert frame(result.path, n).mean() < 20
        assert frame(result.path, 36).mean() > 40
        assert rms(sound, 1.96, 2.04) < 0.02
        assert level(sound, TONES[0], 1.0, 1.4) > 0.1
        return
    middle = 2.0 - seconds / 2  # the middle of the first overlap
    picture = frame(result.path, round(middle * FPS))
    red, blue = picture[..., 0], picture[..., 2]
    if kind == "crossfade":  # every pixel a mix of red and blue
        assert 60 < red.mean() < 200 and 60 < blue.mean() < 200
    else:  # part still red, part already blue
        assert (red > 200).mean() > 0.1 and (blue > 200).mean() > 0.1
    # Both tones sound through the overlap, and only the second one after it.
    span = (middle - seconds / 4, middle + seconds / 4)
    assert level(sound, TONES[0], *span) > 0.05 and level(sound, TONES[5], *span) > 0.05
    assert level(sound, TONES[0], 2.3, 2.9) < 0.01


def test_every_join_in_one_film(media: Path, tmp_path: Path) -> None:
    """Runs of cuts and fades meet through overlaps; the arithmetic holds throughout."""
    red, blue, green = media / "red.mp4", media / "blue.mp4", media / "green.mp4"
    cut = [
        clip(red, "a", transition=Transition("fade", 0.5)),  # opens from black
        clip(blue, "b"),
        clip(green, "c", transition=Transition("crossfade", 0.5)),
        clip(red, "d", transition=Transition("fade", 1.0)),
        clip(blue, "e", transition=Transition("wipeleft", 0.5)),
    ]
    result = stitch(cut, tmp_path / "film.mp4", options=QUICK)
    assert_film(result, 5 * 2.0 - 0.5 - 0.5)
    # Film frames: a 0-47, b 48-95, c from 84 (overlap 84-95), d from 132, e from 168.
    expected = {30: 0, 60: 2, 110: 1, 150: 0, 200: 2}  # frame -> brightest channel
    for n, channel in expected.items():
        assert frame(result.path, n).mean(axis=(0, 1)).argmax() == channel, n
    assert frame(result.path, 0).mean() < 10  # the fade from black


def test_first_clip_opens_from_black(media: Path, tmp_path: Path) -> None:
    cut = [clip(media / "red.mp4", transition=Transition("crossfade", 1.0))]
    result = stitch(cut, tmp_path / "film.mp4", options=QUICK)
    assert_film(result, 2.0)  # a fade in, not an overlap
    assert frame(result.path, 0).mean() < 10 < frame(result.path, 30).mean()
    assert rms(mono(result.path), 0.0, 0.05) < rms(mono(result.path), 1.2, 1.5) / 4


def test_trims_take_the_right_frames(media: Path, tmp_path: Path) -> None:
    source = media / "pattern3s.mp4"
    cut = [
        clip(source, "a", trim=(0.5, 2.0)),
        clip(source, "b", trim=(1.0, 2.5), transition=Transition("crossfade", 0.5)),
    ]
    result = stitch(cut, tmp_path / "film.mp4", options=QUICK)
    assert result.method == "encode" and "trimmed" in result.reason
    assert_film(result, 1.5 + 1.5 - 0.5)
    # Each film frame is closest to the source frame the trim arithmetic names.
    assert nearest_frame(frame(result.path, 0), source, range(72)) == 12
    assert nearest_frame(frame(result.path, 59), source, range(72)) == 59  # b's last


def test_same_clip_twice_and_a_transition_too_long(media: Path, tmp_path: Path) -> None:
    red, blue = media / "red.mp4", media / "blue.mp4"
    fade = Transition("fade", 0.5)
    result = stitch([clip(red), clip(blue, transition=fade), clip(red)], tmp_path / "f.mp4")
    assert_film(result, 6.0)
    assert frame(result.path, 120)[..., 0].mean() > 200  # red again after blue
    too_long = Transition("crossfade", 2.5)
    with pytest.raises(StitchError, match=r"lasts 2\.000 s, shorter than the crossfade"):
        stitch([clip(red), clip(blue, transition=too_long)], tmp_path / "g.mp4")
    assert not (tmp_path / "g.mp4").exists()


# --- sizes and rates ---------------------------------------------------------------


def test_mixed_sizes_pad_to_the_first_clip(media: Path, tmp_path: Path) -> None:
    cut = [clip(media / n) for n in ("hd.mp4", "fullhd.mp4", "tall.mp4")]
    result = stitch(cut, tmp_path / "film.mp4", options=QUICK)
    # The 720p clip is the film's picture as it is: copied; the other two re-encoded.
    assert result.method == "smart" and result.size == (1280, 720)
    assert result.reason == "2 of 3 clips' spans re-encoded (48 frames), 24 frames copied"
    assert_film(result, 3.0)  # the 30 fps clip becomes 24 frames
    info = probe(result.path)
    assert (info.width, info.height, info.pix_fmt) == (1280, 720, "yuv420p")
    assert frame(result.path, 30)[..., 2].mean() > 200  # 1080p fills 720p: all blue
    tall = frame(result.path, 60)  # 9:16 in 16:9: pillarboxed, black sides
    assert tall[:, :200].mean() < 5 and tall[:, 600:680].mean() > 200


def test_mixed_sizes_pad_to_a_given_size(media: Path, tmp_path: Path) -> None:
    cut = [clip(media / "tall.mp4"), clip(media / "hd.mp4")]
    options = StitchOptions(size=(360, 640), preset="ultrafast", loudness=None)
    result = stitch(cut, tmp_path / "film.mp4", options=options)
    assert probe(result.path).width == 360 and probe(result.path).height == 640
    wide = frame(result.path, 30)  # 16:9 in 9:16: letterboxed, black top and bottom
    assert wide[:200].mean() < 5 and wide[300:340, :, 0].mean() > 200
    with pytest.raises(StitchError, match="even"):
        stitch(cut, tmp_path / "odd.mp4", options=StitchOptions(size=(361, 640)))


# --- music and loudness ----------------------------------------------------------------


def music_film(media: Path, out: Path, bed: Audio) -> tuple[np.ndarray, float]:
    cut = [clip(media / "silent.mp4"), clip(media / "tone01.mp4"), clip(media / "silent.mp4")]
    result = stitch(cut, out, music=bed, options=QUICK)
    assert_film(result, 1.5 + 1.5 + 1.5)
    return mono(result.path)


def test_music_loops_under_the_film(media: Path, tmp_path: Path) -> None:
    bed = Audio(
        str(media / "music1s.m4a"), volume=1.0, fade_in=0, fade_out=0, loop=True, duck=False
    )
    sound = music_film(media, tmp_path / "film.mp4", bed)
    for t in (0.2, 1.2, 3.2, 4.2):  # a 1 s tune heard all through a 4.5 s film
        assert level(sound, 300, t, t + 0.2) > 0.1
    assert level(sound, TONES[1], 2.0, 2.5) > 0.1  # with the clip's own sound


def test_music_without_loop_ends_and_a_long_one_is_cut(media: Path, tmp_path: Path) -> None:
    short = Audio(str(media / "music1s.m4a"), 1.0, 0, 0, loop=False, duck=False)
    sound = music_film(media, tmp_path / "short.mp4", short)
    assert level(sound, 300, 0.3, 0.7) > 0.1 and level(sound, 300, 3.5, 4.4) < 0.005
    long = Audio(str(media / "music10s.m4a"), 1.0, 0, 0, loop=False, duck=False)
    sound = music_film(media, tmp_path / "long.mp4", long)  # asserts the film's length
    assert level(sound, 300, 4.0, 4.4) > 0.1


def test_music_volume_and_fades(media: Path, tmp_path: Path) -> None:
    loud = Audio(str(media / "music10s.m4a"), 1.0, 0, 0, loop=True, duck=False)
    faded = Audio(
        str(media / "music10s.m4a"), 0.5, fade_in=1.0, fade_out=1.0, loop=True, duck=False
    )
    a = music_film(media, tmp_path / "a.mp4", loud)
    b = music_film(media, tmp_path / "b.mp4", faded)
    ratio = level(b, 300, 1.6, 2.9) / level(a, 300, 1.6, 2.9)
    assert abs(ratio - 0.5) < 0.03
    assert level(b, 300, 0.0, 0.1) < 0.1 * level(b, 300, 1.6, 2.9)  # fading in
    assert level(b, 300, 4.4, 4.5) < 0.15 * level(b, 300, 1.6, 2.9)  # fading out


def test_music_ducks_under_the_clips_sound(media: Path, tmp_path: Path) -> None:
    bed = Audio(str(media / "music10s.m4a"), 1.0, 0, 0, loop=True, duck=True)
    sound = music_film(media, tmp_path / "film.mp4", bed)
    under, alone = level(sound, 300, 2.0, 2.8), level(sound, 300, 0.5, 1.3)
    assert under < alone / 2  # at least 6 dB down while the clip speaks
    assert level(sound, 300, 3.9, 4.4) > 0.8 * alone  # and back after it


@pytest.mark.parametrize("target", [-16.0, -23.0])
def test_loudness_reaches_the_target(media: Path, tmp_path: Path, target: float) -> None:
    cut = [clip(media / f"tone{k:02d}.mp4") for k in range(4)]
    result = stitch(cut, tmp_path / "film.mp4", options=StitchOptions(loudness=target))
    assert abs(integrated_loudness(result.path) - target) < 1.0
    assert result.loudness is not None and abs(result.gain_db - (target - result.loudness)) < 0.01


def test_no_loudness_target_leaves_levels_alone(media: Path, tmp_path: Path) -> None:
    cut = [clip(media / "tone00.mp4")]
    result = stitch(cut, tmp_path / "film.mp4", options=StitchOptions(loudness=None))
    assert result.gain_db == 0 and result.loudness is None
    assert abs(integrated_loudness(result.path) - integrated_loudness(media / "tone00.mp4")) < 0.3


def test_silence_is_not_normalised(media: Path, tmp_path: Path) -> None:
    # A clip with no sound and no music: nothing to measure, nothing to correct.
    result = stitch([clip(media / "silent.mp4")], tmp_path / "film.mp4")
    assert result.loudness is None and result.gain_db == 0
    assert rms(mono(result.path), 0.0, 1.5) == 0


# --- verification, errors, extras ---------------------------------------------------------


def test_truncated_clip_without_index_is_a_clear_error(media: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    data = (media / "tone01.mp4").read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(StitchError, match=r"clip 'broken'.*not readable"):
        stitch([clip(media / "tone00.mp4"), clip(broken)], tmp_path / "film.mp4")


def test_truncated_clip_is_caught_by_verification(media: Path, tmp_path: Path) -> None:
    """The index survives at the front, the pictures are half gone: ffmpeg makes a
    film without complaint, and verification refuses it with the numbers."""
    whole = make_clip(tmp_path / "whole.mp4", seconds=2, tone=TONES[3], faststart=True)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    out = tmp_path / "film.mp4"
    good = stitch([clip(media / "tone00.mp4"), clip(whole)], out)
    before = out.read_bytes()
    with pytest.raises(VerificationError) as caught:
        stitch([clip(media / "tone00.mp4"), clip(broken)], out)
    message = str(caught.value)
    assert re.search(r"film (lasts [\d.]+ s|has \d+ frames), the cut says", message), message
    rejected = tmp_path / "film.rejected.mp4"
    assert str(rejected) in message and rejected.is_file()
    assert out.read_bytes() == before  # the good film was not touched
    assert not list(tmp_path.glob(".film.partial-*"))
    assert good.path == out


def test_bad_input_is_refused_before_ffmpeg_runs(media: Path, tmp_path: Path) -> None:
    red = media / "red.mp4"
    cases = [
        ([], "empty"),
        ([clip(tmp_path / "missing.mp4")], "no such file"),
        ([clip(red, trim=(1.0, 2.5))], r"trim ends at 2\.500 s, past the clip's end \(2\.000 s\)"),
        ([clip(red), clip(red, transition=Transition("swirl", 1))], "unknown transition 'swirl'"),
    ]
    for cut, message in cases:
        with pytest.raises(StitchError, match=message):
            stitch(cut, tmp_path / "film.mp4")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("method", ["copy", "smart", "encode"])
def test_poster_and_contact_sheet(media: Path, tmp_path: Path, method: str) -> None:
    """One thumbnail per shot, labelled, in the film's shape; a full-size poster.
    The copy path reads them from the clips, the full path from the film's decode,
    a smart render from the clips and the re-encoded stretches."""
    two_shots = tmp_path / "two.mp4"
    red = ["-f", "lavfi", "-i", f"color=c=red:s={SMALL}:r=24:d=1"]
    lime = ["-f", "lavfi", "-i", f"color=c=lime:s={SMALL}:r=24:d=2"]
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    run_ffmpeg([*red, *lime, "-filter_complex", "[0][1]concat", *encode, str(two_shots)])
    marks = (ShotMark("two · shot 1", 0.0, 1.0), ShotMark("two · shot 2", 1.0, 2.0))
    into_blue = Transition("cut" if method == "copy" else "crossfade", 0.5)
    cut = [
        clip(two_shots, shots=marks),
        clip(media / "blue.mp4", transition=into_blue),
        clip(media / "tone00.mp4"),  # untouched by the crossfade: copied when smart
    ]
    result = stitch(cut, tmp_path / "film.mp4", options=StitchOptions(smart=method != "encode"))
    assert result.method == method
    assert result.poster == tmp_path / "film.poster.png"
    assert result.contact_sheet == tmp_path / "film.contact.png"
    with Image.open(result.poster) as poster:
        assert poster.format == "PNG" and poster.size == (160, 120)
        assert np.asarray(poster.convert("RGB"))[60, 80, 1] > 200  # shot 2 (green) is longest
    with Image.open(result.contact_sheet) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == (4 * (320 + 8) + 8, 8 + 240 + 38 + 8)  # 4 shots, 1 row
        cells = np.asarray(sheet.convert("RGB"))[8 + 120]
        colours = [cells[8 + i * 328 + 160] for i in range(4)]
    assert colours[0][0] > 200 and colours[1][1] > 200 and colours[2][2] > 200


def test_the_decode_step_refuses_a_corrupt_picture(media: Path, tmp_path: Path) -> None:
    """Verification's full decode fails on damaged pictures, not only on missing ones."""
    film = stitch([clip(media / "pattern3s.mp4")], tmp_path / "film.mp4").path
    data = bytearray(film.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = bytes(2000)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    decode_check_ffmpeg(film)
    with pytest.raises(ProbeError, match="decode failed"):
        decode_check_ffmpeg(damaged)


def test_verification_decodes_copied_video_when_asked(media: Path, tmp_path: Path) -> None:
    cut = [clip(media / "tone00.mp4"), clip(media / "tone01.mp4")]
    result = stitch(cut, tmp_path / "film.mp4", options=StitchOptions(decode_copied=True))
    assert result.method == "copy" and result.reason.startswith("hard cuts")
    assert abs(result.av_gap) < FRAME


@pytest.mark.parametrize("method", ["copy", "smart", "encode"])
def test_the_stitch_reports_how_much_of_the_film_is_written(
    media: Path, tmp_path: Path, method: str
) -> None:
    """ffmpeg's own `-progress` of the run that writes the film: seconds that only
    grow, out of the film's length, the last report at that length."""
    into = Transition("cut" if method == "copy" else "crossfade", 0.5)
    cut = [clip(media / "red.mp4"), clip(media / "blue.mp4", transition=into)]
    cut.append(clip(media / "pattern3s.mp4"))
    told: list[tuple[float, float]] = []
    options = StitchOptions(preset="ultrafast", loudness=None, smart=method != "encode")
    result = stitch(
        cut, tmp_path / "film.mp4", options=options, progress=lambda s, of: told.append((s, of))
    )
    assert result.method == method
    assert told, "no progress reported"
    seconds = [s for s, _ in told]
    assert seconds == sorted(seconds) and seconds[0] >= 0
    assert {of for _, of in told} == {result.expected}
    assert seconds[-1] == pytest.approx(result.expected, abs=FRAME)
