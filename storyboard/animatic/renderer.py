"""The preview renderer: one task payload as an animatic, locally, for free.

Each shot becomes a card for exactly its duration: the prompt as it would be
sent (wrapped to fit), the task and shot ids, a running timecode, the
references it uses, and its picture (the first frame, the image its prompt
names, or a still of the reference video) in a slow pan. A base edit shows
its source clip with the edit prompt over it. 24 fps, H.264/AAC, at the
resolution of the task's mode and aspect ratio (a first frame or an edited
video sets the aspect). The same payload always gives the same bytes.

Cards and timecodes are drawn with Pillow (no dependence on ffmpeg's
drawtext or on fonts ffmpeg can find); ffmpeg only loops, pans, overlays and
encodes them, in one run built with ffmpeg-python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg
from PIL import Image, UnidentifiedImageError

from storyboard import scratch
from storyboard.animatic.cards import (
    CardLayout,
    banner,
    cover,
    draw_card,
    fit,
    shot_colour,
    timecode_strip,
)
from storyboard.errors import MediaError
from storyboard.media import MediaInfo, extract_frame, probe, run_ffmpeg
from storyboard.provider import api
from storyboard.provider.shape import refers_base

FPS = api.OUTPUT_FPS
SAMPLE_RATE = 48_000
PAN_ZOOM = 1.15  # the picture is this much larger than its box, and slides across it
TONE_VOLUME = 0.08
# The animatic is simple content: x264's fastest preset keeps rendering
# well over 10x real time. Fixed threads and bitexact flags make it
# deterministic (the same payload gives the same bytes). A keyframe every
# second: a transition or trim re-encodes a second or two around it when the
# film is cut (smart render copies whole GOPs), and a player seeks at once.
ENCODE: dict[str, Any] = {
    "format": "mp4",
    "vcodec": "libx264",
    "preset": "ultrafast",
    "crf": 23,
    "g": FPS,
    "pix_fmt": "yuv420p",
    "r": FPS,
    "acodec": "aac",
    "audio_bitrate": "96k",
    "ar": SAMPLE_RATE,
    "ac": 2,
    "threads": 2,
    "movflags": "+faststart",
    "fflags": "+bitexact",
    "flags:v": "+bitexact",
    "flags:a": "+bitexact",
    "map_metadata": -1,
}

ResolveMedia = Callable[[str], Path]


@dataclass(frozen=True)
class Reference:
    """One entry of the payload's image/element/video lists, as the cards name it."""

    token: str  # image_1, element_2, video_1 (R4)
    role: str  # first_frame, end_frame, feature, base, or "" for a plain reference
    path: Path | None = None  # local file (images, videos)

    @property
    def caption(self) -> str:
        return f"{self.token} {self.role}".strip()


@dataclass(frozen=True)
class PreviewShot:
    index: int
    prompt: str
    seconds: int
    picture: Path | None

    @property
    def frames(self) -> int:
        return self.seconds * FPS


def shot_prompts(payload: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(prompt, whole seconds) per shot: `multi_prompt` (R5) or `prompt` + `duration`."""
    if payload.get("multi_shot"):
        return [(str(s["prompt"]), int(s["duration"])) for s in payload["multi_prompt"]]
    return [(str(payload.get("prompt", "")), int(payload.get("duration", 5)))]


def output_size(mode: str, aspect: float) -> tuple[int, int]:
    """The frame for a mode (R17) at an aspect ratio: the short side is the mode's height."""
    aspect = min(max(aspect, 1 / api.MAX_IMAGE_ASPECT), api.MAX_IMAGE_ASPECT)
    short = api.MODE_HEIGHT[mode]
    if aspect >= 1:
        return _even(short * aspect), short
    return short, _even(short / aspect)


def _even(value: float) -> int:
    return round(value / 2) * 2


def _references(payload: Mapping[str, Any], resolve: ResolveMedia) -> list[Reference]:
    refs = []
    for i, item in enumerate(payload.get("image_list", []), start=1):
        refs.append(Reference(f"image_{i}", item.get("type", ""), resolve(item["image_url"])))
    for i, item in enumerate(payload.get("element_list", []), start=1):
        refs.append(Reference(f"element_{i}", f"#{item['element_id']}"))
    for i, item in enumerate(payload.get("video_list", []), start=1):
        role = item.get("refer_type", api.DEFAULT_REFER_TYPE)
        refs.append(Reference(f"video_{i}", role, resolve(item["video_url"])))
    return refs


def _pictures(prompts: list[str], refs: list[Reference], still: Path | None) -> list[Path | None]:
    """Which picture each shot shows: the image its prompt names first, else the
    first frame (opening shot) or end frame (closing shot), else a reference."""
    images = {r.token: r.path for r in refs if r.token.startswith("image_")}
    first = next((r.path for r in refs if r.role == "first_frame"), None)
    end = next((r.path for r in refs if r.role == "end_frame"), None)
    plain = [r.path for r in refs if r.token.startswith("image_") and not r.role]
    chosen: list[Path | None] = []
    for i, prompt in enumerate(prompts):
        named = [
            images[f"image_{m.group(2)}"]
            for m in api.INDEXED_TOKEN.finditer(prompt)
            if m.group(1) == "image" and f"image_{m.group(2)}" in images
        ]
        if named:
            chosen.append(named[0])
        elif i == 0 and first is not None:
            chosen.append(first)
        elif i == len(prompts) - 1 and end is not None:
            chosen.append(end)
        else:
            chosen.append(plain[i % len(plain)] if plain else first or end or still)
    return chosen


def _open_image(path: Path, token: str) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise MediaError(f"{token}: not a readable image ({exc})") from exc


def render_preview(
    payload: Mapping[str, Any], out: Path, *, label: str, resolve_media: ResolveMedia
) -> MediaInfo:
    """Render `payload` as an animatic at `out` (MP4) and return its probe.

    `resolve_media` maps each image/video URL of the payload to a local file
    (it raises if it cannot; the preview never uses the network).
    """
    out = Path(out)
    refs = _references(payload, resolve_media)
    mode = str(payload.get("mode", api.DEFAULT_MODE))
    base = next((r for r in refs if r.role == "base"), None)
    with scratch.work_dir(out) as work:
        if base is not None and base.path is not None:
            args = _base_edit_args(payload, base.path, mode, label, work, out)
            expected = None
        else:
            args, expected = _animatic_args(payload, refs, mode, label, work, out)
        run_ffmpeg(args, timeout=120 + 20 * float(payload.get("duration", 10)))
    info = probe(out)
    if expected is not None and info.frames not in (None, expected):
        raise MediaError(f"preview of {label}: {info.frames} frames written, {expected} expected")
    return info


def _animatic_args(
    payload: Mapping[str, Any],
    refs: list[Reference],
    mode: str,
    label: str,
    work: Path,
    out: Path,
) -> tuple[list[str], int]:
    prompts = shot_prompts(payload)
    video = next((r for r in refs if r.token.startswith("video_") and r.path is not None), None)
    still = None
    if video is not None and video.path is not None:
        still = extract_frame(video.path, work / "video_still.png", which="first")
    pictures = _pictures([p for p, _ in prompts], refs, still)
    shots = [
        PreviewShot(i, text, seconds, pic)
        for i, ((text, seconds), pic) in enumerate(zip(prompts, pictures, strict=True), start=1)
    ]
    first = next((r for r in refs if r.role == "first_frame" and r.path is not None), None)
    if first is not None and first.path is not None:
        frame = _open_image(first.path, first.token)
        size = output_size(mode, frame.width / frame.height)
    else:
        size = api.frame_size(mode, str(payload.get("aspect_ratio", "16:9")))
    footer = "refs: " + (" · ".join(r.caption for r in refs) if refs else "none")
    sound = payload.get("sound") == "on"
    detail = f"{mode} {size[0]}×{size[1]}{' · sound' if sound else ''}"
    segments = []
    loaded: dict[Path, Image.Image] = {}
    frames = {r.path for r in refs if r.role in api.FRAME_TYPES}
    for shot in shots:
        layout = CardLayout.for_size(size, with_picture=shot.picture is not None)
        card = draw_card(
            layout,
            title=f"{label} · shot {shot.index}/{len(shots)}",
            detail=f"{shot.seconds} s · {detail}",
            prompt=shot.prompt,
            footer=footer,
            background=shot_colour(f"{label}/{shot.index}"),
        )
        card_png = work / f"card{shot.index}.bmp"
        card.save(card_png)
        stream = _still(card_png, shot.frames)
        if shot.picture is not None and layout.picture is not None:
            if shot.picture not in loaded:
                loaded[shot.picture] = _open_image(shot.picture, "picture")
            whole = shot.picture not in frames  # a reference is shown whole, a frame fills
            stream = _pan(stream, loaded[shot.picture], layout.picture, shot, work, whole=whole)
        segments.append(stream)
    total = sum(s.frames for s in shots)
    video_out = segments[0] if len(segments) == 1 else ffmpeg.concat(*segments, v=1, a=0)
    starts = [sum(s.frames for s in shots[:i]) for i in range(len(shots))]
    layout = CardLayout.for_size(size, with_picture=False)
    # Square pixels, said so in every clip as the base edit's says it: one set of H.264
    # parameters for all the preview's clips, so that a film of them is cut smart.
    video_out = _timecode(video_out, layout, total, starts, work).filter("setsar", 1)
    if sound:
        audio = _tone([s.seconds for s in shots])
    else:
        audio = ffmpeg.input(f"anullsrc=r={SAMPLE_RATE}:cl=stereo", f="lavfi")
    audio = audio.filter("atrim", end_sample=total * SAMPLE_RATE // FPS)
    output = ffmpeg.output(video_out, audio, str(out), **ENCODE, **{"frames:v": total})
    return output.overwrite_output().get_args(), total


def _still(png: Path, frames: int) -> Any:
    """A still held for `frames` frames at 24 fps, converted to yuv420p once and repeated.

    Stills are BMP: written and read fastest, and they are only scratch files."""
    return (
        ffmpeg.input(str(png), framerate=FPS)
        .filter("format", "yuv420p")
        .filter("loop", loop=-1, size=1)
        .trim(end_frame=frames)
        .setpts(f"N/{FPS}/TB")
    )


def _pan(
    card: Any,
    picture: Image.Image,
    box: tuple[int, int, int, int],
    shot: PreviewShot,
    work: Path,
    *,
    whole: bool,
) -> Any:
    """Overlay `picture` in `box`, slowly sliding across it (direction alternates by shot).

    A frame fills the box (it is the shot's picture); a reference is shown
    whole on a dark mat, so its subject is never cropped away."""
    x, y, w, h = box
    size = (_even(w * PAN_ZOOM), _even(h * PAN_ZOOM))
    big = fit(picture, size) if whole else cover(picture, size)
    png = work / f"picture{shot.index}.bmp"
    big.save(png)
    dx, dy = big.width - w, big.height - h
    span = max(1, shot.frames - 1)
    forward = shot.index % 2 == 1
    px = f"{dx}*n/{span}" if forward else f"{dx}*(1-n/{span})"
    py = f"{dy}*n/{span}" if forward else f"{dy}*(1-n/{span})"
    moving = _still(png, shot.frames).crop(x=px, y=py, width=w, height=h)
    return card.overlay(moving, x=x, y=y, format="yuv420", eof_action="pass")


def _timecode(video: Any, layout: CardLayout, frames: int, starts: list[int], work: Path) -> Any:
    """Overlay the running timecode: row `n` of a pre-drawn strip at frame `n`."""
    strip, (row_w, row_h) = timecode_strip(frames, FPS, layout.bar, starts)
    png = work / "timecode.bmp"
    strip.save(png)
    rows = _still(png, frames).crop(x=0, y=f"{row_h}*n", width=row_w, height=row_h)
    _, h = layout.size
    top = h - layout.bar + (layout.bar - row_h) // 2
    return video.overlay(rows, x=layout.margin, y=top, format="yuv420", eof_action="pass")


def _tone(seconds: list[int]) -> Any:
    """A quiet tone whose pitch changes at every shot (sound `on`): cuts can be heard."""
    freqs = [220 * 2 ** (i / 4) for i in range(len(seconds))]
    expr, end = f"{freqs[-1]:.2f}", sum(seconds)
    for i in range(len(seconds) - 2, -1, -1):
        end -= seconds[i + 1]
        expr = f"if(lt(t,{end}),{freqs[i]:.2f},{expr})"
    wave = f"{TONE_VOLUME}*sin(2*PI*{expr}*t)"
    source = f"aevalsrc=exprs={_escape(wave)}|{_escape(wave)}:s={SAMPLE_RATE}:d={sum(seconds)}"
    return ffmpeg.input(source, f="lavfi")


def _escape(expr: str) -> str:
    return expr.replace(",", "\\,")


def _base_edit_args(
    payload: Mapping[str, Any],
    source: Path,
    mode: str,
    label: str,
    work: Path,
    out: Path,
) -> list[str]:
    """The source clip, at the mode's resolution in its own aspect, under the edit prompt
    (R15: the output lasts as long as the input)."""
    info = probe(source)
    if not info.has_video or not info.width or not info.height:
        raise MediaError(f"{source.name}: the video to edit has no picture")
    size = output_size(mode, info.width / info.height)
    seconds = info.video_duration or info.duration
    frames = max(1, round(seconds * FPS))
    overlay_png = work / "banner.png"
    prompt = str(payload.get("prompt", ""))
    overlay = banner(size, title=f"{label} · edit of video_1", text=prompt)
    overlay.save(overlay_png, compress_level=1)
    src = ffmpeg.input(str(source))
    w, h = size
    video = (
        src.video.filter("fps", FPS)
        .filter("scale", w, h, force_original_aspect_ratio="decrease")
        .filter("pad", w, h, "(ow-iw)/2", "(oh-ih)/2")
        .filter("setsar", 1)
        .filter("format", "yuv420p")
        .filter("tpad", stop_mode="clone", stop=-1)
        .trim(end_frame=frames)
        .setpts(f"N/{FPS}/TB")
    )
    over = (
        ffmpeg.input(str(overlay_png), framerate=FPS)
        .filter("format", "yuva420p")
        .filter("loop", loop=-1, size=1)
        .trim(end_frame=frames)
        .setpts(f"N/{FPS}/TB")
    )
    video = video.overlay(over, format="yuv420", eof_action="pass")
    video = _timecode(video, CardLayout.for_size(size, with_picture=False), frames, [0], work)
    keep = any(
        refers_base(item) and item.get("keep_original_sound") == "yes"
        for item in payload.get("video_list", [])
    )
    if keep and info.has_audio:
        audio = src.audio.filter("aresample", SAMPLE_RATE).filter("apad")
    else:
        audio = ffmpeg.input(f"anullsrc=r={SAMPLE_RATE}:cl=stereo", f="lavfi")
    audio = audio.filter("atrim", end_sample=frames * SAMPLE_RATE // FPS)
    output = ffmpeg.output(video, audio, str(out), **ENCODE, **{"frames:v": frames})
    args: list[str] = output.overwrite_output().get_args()
    return args
