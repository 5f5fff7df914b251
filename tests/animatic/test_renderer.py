"""The preview renderer: exact clips, one readable card per shot, deterministic bytes.

Frames are extracted to PNG and compared with the cards the renderer draws:
a frame from the middle of shot k matches card k in the prompt's box and no
other card, so each shot really shows its own prompt for its own duration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from storyboard.animatic.cards import CardLayout, draw_card, shot_colour
from storyboard.animatic.renderer import FPS, output_size, render_preview, shot_prompts
from storyboard.errors import MediaError
from storyboard.media import probe
from storyboard.provider import api
from tests.conftest import make_png, make_video

PROMPTS = (
    "A lighthouse at dawn, waves crash against the rocks below",
    "Close-up: the keeper climbs the spiral stairs with a brass lantern",
    "Night falls; the beam sweeps across the rain",
)
THREE_SHOTS: dict[str, Any] = {
    "model": api.MODEL,
    "multi_shot": True,
    "shot_type": "customize",
    "multi_prompt": [
        {"index": i, "prompt": p, "duration": d}
        for i, (p, d) in enumerate(zip(PROMPTS, ("2", "3", "1"), strict=True), start=1)
    ],
    "duration": "6",
    "sound": "off",
    "mode": "std",
    "aspect_ratio": "16:9",
    "watermark_info": {"enabled": False},
}


def frames_at(path: Path, indices: list[int], out_dir: Path) -> dict[int, Path]:
    """Decode `path` and write the frames at `indices` as PNG files."""
    wanted, found = set(indices), {}
    with av.open(str(path)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            if n in wanted:
                png = out_dir / f"frame{n:04d}.png"
                frame.to_image().save(png)
                found[n] = png
    assert set(found) == wanted
    return found


def audio_rms(path: Path) -> float:
    with av.open(str(path)) as container:
        samples = [f.to_ndarray().astype(np.float64) for f in container.decode(audio=0)]
    return float(np.sqrt(np.mean(np.concatenate(samples, axis=1) ** 2)))


@pytest.fixture(scope="module")
def three_shot_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("preview") / "arrival.mp4"
    render_preview(THREE_SHOTS, out, label="arrival", resolve_media=Path)
    return out


def test_three_shot_clip_is_exact(three_shot_clip: Path) -> None:
    info = probe(three_shot_clip)
    assert (info.width, info.height) == api.frame_size("std", "16:9") == (1280, 720)
    assert info.fps == FPS
    assert info.frames == 6 * FPS
    assert info.video_duration == pytest.approx(6.0, abs=1e-6)
    assert info.audio_duration == pytest.approx(6.0, abs=1 / FPS)
    assert (info.video_codec, info.pix_fmt, info.audio_codec) == ("h264", "yuv420p", "aac")
    assert audio_rms(three_shot_clip) == 0.0  # sound: off


def test_each_shot_shows_its_own_prompt_for_its_duration(
    three_shot_clip: Path, tmp_path: Path
) -> None:
    # shots: 0-2 s, 2-5 s, 5-6 s; frames well inside each shot, two per shot
    pngs = frames_at(three_shot_clip, [12, 36, 60, 100, 125, 135], tmp_path)
    size = (1280, 720)
    layout = CardLayout.for_size(size, with_picture=False)
    x, y, w, h = layout.text
    cards = [
        np.asarray(
            draw_card(
                layout,
                title=f"arrival · shot {i}/3",
                detail="",
                prompt=prompt,
                footer="refs: none",
                background=shot_colour(f"arrival/{i}"),
            ).crop((x, y, x + w, y + h)),
            dtype=np.float64,
        )
        for i, prompt in enumerate(PROMPTS, start=1)
    ]

    def distances(png: Path) -> list[float]:
        with Image.open(png) as img:
            box = np.asarray(img.convert("RGB").crop((x, y, x + w, y + h)), dtype=np.float64)
        return [float(np.mean(np.abs(box - card))) for card in cards]

    expected_shot = {12: 0, 36: 0, 60: 1, 100: 1, 125: 2, 135: 2}
    for n, png in pngs.items():
        d = distances(png)
        assert int(np.argmin(d)) == expected_shot[n], (n, d)
        others = [v for i, v in enumerate(d) if i != expected_shot[n]]
        assert d[expected_shot[n]] * 3 < min(others), (n, d)  # clearly that card, not a blur


def test_the_timecode_runs_every_frame(three_shot_clip: Path, tmp_path: Path) -> None:
    pngs = frames_at(three_shot_clip, [40, 41, 42], tmp_path)
    layout = CardLayout.for_size((1280, 720), with_picture=False)
    corner = (0, 720 - layout.bar, 640, 720)  # bottom left: the running timecode
    boxes = []
    for png in pngs.values():
        with Image.open(png) as img:
            boxes.append(np.asarray(img.convert("L").crop(corner), dtype=np.int16))
    assert np.abs(boxes[0] - boxes[1]).max() > 60
    assert np.abs(boxes[1] - boxes[2]).max() > 60


def test_rendering_twice_gives_the_same_bytes(three_shot_clip: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.mp4"
    render_preview(THREE_SHOTS, again, label="arrival", resolve_media=Path)
    assert again.read_bytes() == three_shot_clip.read_bytes()


@pytest.mark.parametrize(
    ("mode", "aspect"), [("std", "16:9"), ("std", "9:16"), ("std", "1:1"), ("pro", "9:16")]
)
def test_size_follows_mode_and_aspect_ratio(mode: str, aspect: str, tmp_path: Path) -> None:
    payload = {
        **THREE_SHOTS,
        "multi_shot": False,
        "prompt": "a square of light",
        "duration": "3",
        "mode": mode,
        "aspect_ratio": aspect,
    }
    info = render_preview(payload, tmp_path / "c.mp4", label="t", resolve_media=Path)
    assert (info.width, info.height) == api.frame_size(mode, aspect)
    assert info.frames == 3 * FPS


def test_a_first_frame_sets_the_aspect_and_is_the_picture(tmp_path: Path) -> None:
    frame = make_png(tmp_path / "portrait.png", (400, 600), (200, 30, 30))
    payload = {
        **THREE_SHOTS,
        "multi_shot": False,
        "prompt": "a red door opens",
        "duration": "3",
        "image_list": [{"image_url": str(frame), "type": "first_frame"}],
    }
    del payload["aspect_ratio"]  # R18: not sent with a first frame
    out = tmp_path / "c.mp4"
    info = render_preview(payload, out, label="door", resolve_media=Path)
    assert (info.width, info.height) == output_size("std", 400 / 600) == (720, 1080)
    png = frames_at(out, [30], tmp_path)[30]
    layout = CardLayout.for_size((720, 1080), with_picture=True)
    assert layout.picture is not None
    px, py, pw, ph = layout.picture
    with Image.open(png) as img:
        centre = img.convert("RGB").getpixel((px + pw // 2, py + ph // 2))
    assert abs(centre[0] - 200) < 20 and centre[1] < 60 and centre[2] < 60


def base_edit(source: Path) -> dict[str, Any]:
    """A payload that edits `source` (R15: the output lasts as long as it)."""
    return {
        "model": api.MODEL,
        "multi_shot": False,
        "prompt": "same shot at night",
        "video_list": [
            {"video_url": str(source), "refer_type": "base", "keep_original_sound": "no"}
        ],
        "sound": "off",
        "mode": "std",
        "watermark_info": {"enabled": False},
    }


def test_a_base_edit_lasts_as_long_as_its_source(tmp_path: Path) -> None:
    source = make_video(tmp_path / "source.mp4", size="1280x720", seconds=4)
    payload = base_edit(source)
    info = render_preview(payload, tmp_path / "edit.mp4", label="night", resolve_media=Path)
    assert info.frames == 4 * FPS and (info.width, info.height) == (1280, 720)
    assert info.has_audio


def test_every_preview_clip_has_one_set_of_h264_parameters(tmp_path: Path) -> None:
    """A base edit and a card clip of one mode and aspect share their SPS/PPS and a
    keyframe a second, so that a film of them is cut smart (whole GOPs copied)."""
    edit = base_edit(make_video(tmp_path / "source.mp4", size="1280x720", seconds=2))
    card = {**{k: v for k, v in edit.items() if k != "video_list"}, "duration": "3"}
    card["aspect_ratio"] = "16:9"
    clips = [
        render_preview(edit, tmp_path / "edit.mp4", label="night", resolve_media=Path).path,
        render_preview(card, tmp_path / "card.mp4", label="card", resolve_media=Path).path,
    ]
    parameters, keyframes = [], []
    for clip in clips:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            parameters.append(bytes(stream.codec_context.extradata or b""))
            keyframes.append([n for n, p in enumerate(container.demux(stream)) if p.is_keyframe])
    assert parameters[0] == parameters[1] and parameters[0]
    assert keyframes == [[0, 24], [0, 24, 48]]


def test_sound_on_is_audible(tmp_path: Path) -> None:
    payload = {**THREE_SHOTS, "sound": "on"}
    out = tmp_path / "loud.mp4"
    render_preview(payload, out, label="t", resolve_media=Path)
    assert audio_rms(out) > 0.01


def test_an_unreadable_image_is_a_media_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.png"
    bogus.write_text("not a picture")
    payload = {
        **THREE_SHOTS,
        "image_list": [{"image_url": str(bogus), "type": "first_frame"}],
    }
    with pytest.raises(MediaError, match="image_1"):
        render_preview(payload, tmp_path / "c.mp4", label="t", resolve_media=Path)


def test_shot_prompts_reads_both_request_shapes() -> None:
    assert shot_prompts(THREE_SHOTS) == [(PROMPTS[0], 2), (PROMPTS[1], 3), (PROMPTS[2], 1)]
    single = {"multi_shot": False, "prompt": "x", "duration": "7"}
    assert shot_prompts(single) == [("x", 7)]
