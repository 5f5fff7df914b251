"""Smart render: only what a transition, trim or fade touches is re-encoded.

Clips with a keyframe every second (keyint 24) put copy spans inside clips, so
a film mixes copied GOPs and re-encoded stretches in every way: a span ending
inside a clip before a crossfade, one starting inside a clip after it, a
trimmed clip, a fade through black, a clip copied whole. Each film is decoded
end to end (ffmpeg `-xerror`, and PyAV frame by frame), its length is the cut's
arithmetic, its hard cuts are in sync by the tones, and its copied frames are
the clips' own, bit for bit and packet for packet.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from storyboard.film.stitch import StitchOptions, StitchResult, Transition, stitch
from storyboard.media import decode_check_ffmpeg, run_ffmpeg, video_packets
from tests.film.test_stitch import FPS, FRAME, TONES, assert_film, clip, mono, tone_onset

CROSSFADE = Transition("crossfade", 0.5)
QUICK = StitchOptions(preset="ultrafast", loudness=None)
SIZE = "160x120"


def make(path: Path, *, seconds: float = 2.0, tone: float, x264: tuple[str, ...] = ()) -> Path:
    """A test-pattern clip with a tone, keyframes every 24 frames unless `x264` says."""
    run_ffmpeg(
        [
            *("-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r={FPS}:d={seconds}"),
            *("-f", "lavfi", "-i", f"sine=f={tone}:r=48000:d={seconds},volume=2"),
            *("-c:a", "aac", "-b:a", "64k", "-ac", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p"),
            *(x264 or ("-preset", "ultrafast", "-g", "24", "-sc_threshold", "0")),
            str(path),
        ]
    )
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("smart-media")
    made = {f"k{n}": make(d / f"k{n}.mp4", tone=TONES[n]) for n in range(5)}
    made["whole"] = make(d / "whole.mp4", seconds=1.0, tone=TONES[6])
    return made


def pictures(path: Path) -> list[np.ndarray]:
    """Every frame PyAV decodes, as YUV planes (exact: no colour conversion)."""
    with av.open(str(path)) as container:
        return [f.to_ndarray() for f in container.decode(video=0)]


def assert_decodes(result: StitchResult, frames: int) -> list[np.ndarray]:
    decode_check_ffmpeg(result.path)  # -xerror: any decode error fails
    decoded = pictures(result.path)
    assert len(decoded) == frames
    assert_film(result, frames / FPS)
    return decoded


def assert_copied(
    film: Path, decoded: list[np.ndarray], at: int, source: Path, span: range
) -> None:
    """Film frames from `at` are `source`'s frames `span`, decoded and coded alike."""
    theirs = pictures(source)
    for k, n in enumerate(span):
        assert np.array_equal(decoded[at + k], theirs[n]), (at + k, n)
    mine = video_packets(film).digests[at : at + len(span)]
    assert mine == video_packets(source).digests[span.start : span.stop]


def test_a_film_of_copied_and_reencoded_stretches(clips: dict[str, Path], tmp_path: Path) -> None:
    cut = [
        clip(clips["whole"], "w"),  # film 0-23, copied whole
        clip(clips["k0"], "a"),  # 24-71: its first GOP copied, its second re-encoded
        clip(clips["k1"], "b", transition=CROSSFADE),  # 60-107: its second GOP copied
        clip(clips["k2"], "c", trim=(0.5, 2.0)),  # 108-143, trimmed: re-encoded
        clip(clips["k3"], "d", transition=Transition("fade", 1.0)),  # 144-191
        clip(clips["k4"], "e", transition=CROSSFADE),  # 180-227: its second GOP copied
    ]
    result = stitch(cut, tmp_path / "film.mp4", options=QUICK)
    assert result.method == "smart"
    assert result.reason == "5 of 6 clips' spans re-encoded (132 frames), 96 frames copied"
    decoded = assert_decodes(result, 228)
    for at, source, span in (
        (0, "whole", range(24)),
        (24, "k0", range(24)),
        (84, "k1", range(24, 48)),
        (204, "k4", range(24, 48)),
    ):
        assert_copied(result.path, decoded, at, clips[source], span)
    sound = mono(result.path)
    for old, new, cut_at in ((TONES[6], TONES[0], 1.0), (TONES[1], TONES[2], 4.5)):
        assert abs(tone_onset(sound, old, new, cut_at) - cut_at) <= FRAME
    # A re-encoded frame next to a copied one: the trim's first frame is k2's frame 12.
    k2 = pictures(clips["k2"])
    assert np.abs(decoded[108].astype(float) - k2[12]).mean() < 4


def test_clips_made_alike_by_the_preview_are_copied_whole(tmp_path: Path) -> None:
    """Preview clips are one GOP each (keyint 250): a touched clip is re-encoded
    whole, an untouched one copied whole."""
    preview = ("-preset", "ultrafast", "-crf", "23")
    paths = [
        make(tmp_path / f"p{n}.mp4", seconds=1.0, tone=TONES[n], x264=preview) for n in range(4)
    ]
    cut = [clip(paths[0]), clip(paths[1], transition=CROSSFADE), clip(paths[2]), clip(paths[3])]
    result = stitch(cut, tmp_path / "film.mp4", options=QUICK)
    assert result.method == "smart"
    assert result.reason == "2 of 4 clips' spans re-encoded (36 frames), 48 frames copied"
    decoded = assert_decodes(result, 84)
    assert_copied(result.path, decoded, 36, paths[2], range(24))
    assert_copied(result.path, decoded, 60, paths[3], range(24))


def test_clips_with_b_frames_join_cleanly(tmp_path: Path) -> None:
    medium = ("-preset", "medium", "-g", "24", "-sc_threshold", "0")
    paths = [make(tmp_path / f"m{n}.mp4", tone=TONES[n], x264=medium) for n in range(3)]
    with av.open(str(paths[0])) as container:  # the clips really reorder pictures
        packets = list(container.demux(video=0))
    assert any(p.pts != p.dts for p in packets if p.size)
    cut = [clip(paths[0]), clip(paths[1], transition=CROSSFADE), clip(paths[2])]
    result = stitch(cut, tmp_path / "film.mp4", options=QUICK)
    assert result.method == "smart"
    decoded = assert_decodes(result, 132)
    assert_copied(result.path, decoded, 0, paths[0], range(24))
    assert_copied(result.path, decoded, 60, paths[1], range(24, 48))
    assert_copied(result.path, decoded, 84, paths[2], range(48))


def test_clips_encoded_differently_are_reencoded_whole(tmp_path: Path) -> None:
    a = make(
        tmp_path / "a.mp4", tone=TONES[0], x264=("-preset", "ultrafast", "-g", "24", "-crf", "18")
    )
    b = make(tmp_path / "b.mp4", tone=TONES[1])
    result = stitch([clip(a), clip(b, transition=CROSSFADE)], tmp_path / "film.mp4", options=QUICK)
    assert result.method == "encode"
    assert result.reason.startswith(
        "smart render not possible: clip 'b' was encoded with other H.264 parameters than 'a'"
    )
    assert_decodes(result, 84)


def test_an_encoder_that_cannot_be_matched_means_a_full_reencode(tmp_path: Path) -> None:
    """x264's options line says ultrafast at crf 23, but with two reference frames:
    the probe's parameter sets differ, and nothing is copied on trust."""
    custom = ("-preset", "ultrafast", "-g", "24", "-x264-params", "ref=2")
    a, b = (make(tmp_path / f"{n}.mp4", tone=TONES[k], x264=custom) for k, n in enumerate("ab"))
    result = stitch([clip(a), clip(b, transition=CROSSFADE)], tmp_path / "film.mp4", options=QUICK)
    assert result.method == "encode"
    assert result.reason.startswith(
        "smart render not possible: x264 cannot be made to reproduce the H.264 parameters "
        "of clip 'a'"
    )
    assert_decodes(result, 84)


def test_the_full_path_when_asked(clips: dict[str, Path], tmp_path: Path) -> None:
    cut = [clip(clips["k0"]), clip(clips["k1"], transition=CROSSFADE)]
    options = StitchOptions(preset="ultrafast", loudness=None, smart=False)
    result = stitch(cut, tmp_path / "film.mp4", options=options)
    assert result.method == "encode" and "crossfade" in result.reason
    assert_decodes(result, 84)


def test_a_trim_on_keyframes_copies_everything(clips: dict[str, Path], tmp_path: Path) -> None:
    cut = [clip(clips["k0"], "a", trim=(1.0, 2.0)), clip(clips["k1"], "b")]
    result = stitch(cut, tmp_path / "film.mp4", options=QUICK)
    assert result.method == "smart"
    assert result.reason == "0 of 2 clips' spans re-encoded (0 frames), 72 frames copied"
    decoded = assert_decodes(result, 72)
    assert_copied(result.path, decoded, 0, clips["k0"], range(24, 48))
    assert_copied(result.path, decoded, 24, clips["k1"], range(48))
