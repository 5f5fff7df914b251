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

from collections.abc import Mapping
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
    picture_area,
    shot_colour,
    timecode_strip,
)
from storyboard.animatic.layout import (
    Reference,
    ResolveMedia,
    ShotCard,
    references,
    refs_line,
    shot_cards,
    shot_prompts,  # noqa: F401 (part of the renderer's surface: shots of a payload)
)
from storyboard.animatic.notes import CardNotes, FilmSpan
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


def output_size(mode: str, aspect: float) -> tuple[int, int]:
    """The frame for a mode (R17) at an aspect ratio: the short side is the mode's height."""
    aspect = min(max(aspect, 1 / api.MAX_IMAGE_ASPECT), api.MAX_IMAGE_ASPECT)
    short = api.MODE_HEIGHT[mode]
    if aspect >= 1:
        return _even(short * aspect), short
    return short, _even(short / aspect)


def _even(value: float) -> int:
    return round(value / 2) * 2


def _open_image(path: Path, token: str) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise MediaError(f"{token}: not a readable image ({exc})") from exc


def render_preview(
    payload: Mapping[str, Any],
    out: Path,
    *,
    label: str,
    resolve_media: ResolveMedia,
    notes: CardNotes | None = None,
    offline: bool = False,
) -> MediaInfo:
    """Render `payload` as an animatic at `out` (MP4) and return its probe.

    `resolve_media` maps each image/video URL of the payload to a local file
    (it raises if it cannot; the preview never uses the network). `offline`: a
    reference video given by URL is named on the card, never resolved or fetched.
    `notes` (from the preview backend, which has the plan) name the references as
    the author did, place the clip in the film, and say which images are another
    task's frames.
    """
    out = Path(out)
    notes = notes or CardNotes()
    refs = references(payload, resolve_media, notes, offline=offline)
    mode = str(payload.get("mode", api.DEFAULT_MODE))
    base = next((r for r in refs if r.role == "base"), None)
    with scratch.work_dir(out) as work:
        if base is not None and base.path is not None:
            args = _base_edit_args(payload, base, mode, label, work, out, notes.film)
            expected = None
        else:
            args, expected = _animatic_args(payload, refs, notes, mode, label, work, out)
        run_ffmpeg(args, timeout=120 + 20 * float(payload.get("duration", 10)))
    info = probe(out)
    if expected is not None and info.frames not in (None, expected):
        raise MediaError(f"preview of {label}: {info.frames} frames written, {expected} expected")
    return info


def _pictures(refs: list[Reference], notes: CardNotes, work: Path) -> dict[str, Image.Image]:
    """The picture of every reference that has one: an image, a frame of a reference
    video, and for another task's frame the picture it showed (not its whole card)."""
    pictures = {}
    for ref in refs:
        if ref.path is None or ref.role == "base":
            continue
        if ref.is_video:
            still = extract_frame(ref.path, work / f"{ref.token}.png", which="first")
            pictures[ref.token] = _open_image(still, ref.token)
            continue
        image = _open_image(ref.path, ref.token)
        upstream = notes.upstream.get(ref.token)
        if upstream is not None:
            image = picture_area(image, upstream.picture, upstream.colour)
        pictures[ref.token] = image
    return pictures


def _animatic_args(
    payload: Mapping[str, Any],
    refs: list[Reference],
    notes: CardNotes,
    mode: str,
    label: str,
    work: Path,
    out: Path,
) -> tuple[list[str], int]:
    cards = shot_cards(payload, refs, notes)
    pictures = _pictures(refs, notes, work)
    first = next((r for r in refs if r.role == "first_frame" and r.path is not None), None)
    if first is not None and first.path is not None:  # the whole frame sets the aspect
        frame = _open_image(first.path, first.token)
        size = output_size(mode, frame.width / frame.height)
    else:
        size = api.frame_size(mode, str(payload.get("aspect_ratio", "16:9")))
    footer = refs_line(refs)
    sound = payload.get("sound") == "on"
    detail = f"{mode} {size[0]}×{size[1]}{' · sound' if sound else ''}"
    segments = []
    for card in cards:
        layout = CardLayout.for_size(size, with_picture=card.picture is not None)
        drawn = draw_card(
            layout,
            title=f"{label} · shot {card.index}/{len(cards)}",
            detail=f"{card.seconds} s · {detail}",
            prompt=card.prompt,
            footer=footer,
            background=shot_colour(f"{label}/{card.index}"),
            picture_label=card.picture_label,
            film=notes.film is not None,
        )
        card_png = work / f"card{card.index}.bmp"
        drawn.save(card_png)
        stream = _still(card_png, card.frames)
        if card.picture is not None and layout.picture is not None:
            whole = card.picture.role not in api.FRAME_TYPES  # a reference is shown whole
            picture = pictures[card.picture.token]
            stream = _pan(stream, picture, layout.picture, card, work, whole=whole)
        segments.append(stream)
    total = sum(c.frames for c in cards)
    video_out = segments[0] if len(segments) == 1 else ffmpeg.concat(*segments, v=1, a=0)
    starts = [sum(c.frames for c in cards[:i]) for i in range(len(cards))]
    layout = CardLayout.for_size(size, with_picture=False)
    # Square pixels, said so in every clip as the base edit's says it: one set of H.264
    # parameters for all the preview's clips, so that a film of them is cut smart.
    video_out = _timecode(video_out, layout, total, starts, work, notes.film).filter("setsar", 1)
    if sound:
        audio = _tone([c.seconds for c in cards])
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
    shot: ShotCard,
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


def _timecode(
    video: Any,
    layout: CardLayout,
    frames: int,
    starts: list[int],
    work: Path,
    film: FilmSpan | None,
) -> Any:
    """Overlay the running timecode (the film's, where the clip is in the cut): row `n`
    of a pre-drawn strip at frame `n`."""
    strip, (row_w, row_h) = timecode_strip(frames, FPS, layout.bar, starts, film)
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
    base: Reference,
    mode: str,
    label: str,
    work: Path,
    out: Path,
    film: FilmSpan | None,
) -> list[str]:
    """The source clip, at the mode's resolution in its own aspect, under the edit prompt
    (R15: the output lasts as long as the input)."""
    source = base.path
    assert source is not None
    info = probe(source)
    if not info.has_video or not info.width or not info.height:
        raise MediaError(f"{source.name}: the video to edit has no picture")
    size = output_size(mode, info.width / info.height)
    seconds = info.video_duration or info.duration
    frames = max(1, round(seconds * FPS))
    overlay_png = work / "banner.png"
    prompt = str(payload.get("prompt", ""))
    overlay = banner(size, title=f"{label} · edit of {base.caption}", text=prompt)
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
    layout = CardLayout.for_size(size, with_picture=False)
    video = _timecode(video, layout, frames, [0], work, film)
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
