"""Still pictures drawn with Pillow: preview cards, timecode strips, contact sheets.

Pure drawing, no ffmpeg: the preview renderer and the stitcher turn these
PNGs into video. Text is laid out to fit its box (wrapped by measured width,
shrunk step by step, cut with an ellipsis only as a last resort) so a
2,500-character prompt stays readable on a 720p card.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from storyboard.animatic.notes import FilmSpan, PictureKind

FONT_ENV = "STORYBOARD_FONT"
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/Library/Fonts")
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

INK = (240, 238, 230)
DIM = (170, 172, 180)
BAR = (12, 12, 16)


@functools.cache
def _font_file(bold: bool) -> str | None:
    """A TrueType file with wide Unicode coverage, if the machine has one."""
    override = os.environ.get(FONT_ENV)
    if override and Path(override).is_file():
        return override
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in _FONT_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file():
            return str(candidate)
    return None


@functools.cache
def font(size: int, *, bold: bool = False) -> Font:
    """DejaVu Sans when present (wide Unicode coverage), else Pillow's embedded font."""
    path = _font_file(bold)
    if path is not None:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def wrap(text: str, face: Font, width: int) -> list[str]:
    """Greedy word wrap by measured width; a word wider than the box is broken."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if face.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while face.getlength(word) > width and len(word) > 1:
                cut = max(1, int(len(word) * width / face.getlength(word)))
                while cut > 1 and face.getlength(word[:cut]) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def fit_text(
    text: str, box: tuple[int, int], *, largest: int, smallest: int, spacing: float = 1.3
) -> tuple[Font, list[str], int]:
    """The largest font size (and its lines, line height) at which `text` fits `box`."""
    width, height = box
    size = largest
    while True:
        face = font(size)
        step = max(1, round(size * spacing))
        lines = wrap(text, face, width)
        if len(lines) * step <= height or size <= smallest:
            break
        size = max(smallest, int(size * 0.88))
    room = max(1, height // step)
    if len(lines) > room:  # even the smallest size overflows: cut, visibly
        lines = lines[:room]
        last = lines[-1]
        while last and face.getlength(last + " …") > width:
            last = last[:-1]
        lines[-1] = last + " …"
    return face, lines, step


def shot_colour(key: str) -> tuple[int, int, int]:
    """A dark, saturated background that differs from shot to shot, the same every run."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    hue = digest[0] / 255
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55, 0.30)
    return round(r * 255), round(g * 255), round(b * 255)


@dataclass(frozen=True)
class CardLayout:
    """Where things go on a card of `size`: bars, the picture box, the text box."""

    size: tuple[int, int]
    bar: int  # height of the top and bottom bars
    margin: int
    picture: tuple[int, int, int, int] | None  # x, y, w, h (even numbers)
    text: tuple[int, int, int, int]

    @classmethod
    def for_size(cls, size: tuple[int, int], *, with_picture: bool) -> CardLayout:
        w, h = size
        short = min(w, h)
        bar = _even(short * 0.085)
        margin = _even(short * 0.045)
        top, bottom = bar + margin, h - bar - margin
        if not with_picture:
            return cls(size, bar, margin, None, (margin, top, w - 2 * margin, bottom - top))
        if w >= h * 1.2:  # landscape: picture left, text right
            pw = _even((w - 3 * margin) * 0.52)
            picture = (margin, top, pw, _even(bottom - top))
            tx = margin * 2 + pw
            return cls(size, bar, margin, picture, (tx, top, w - tx - margin, bottom - top))
        ph = _even((bottom - top - margin) * (0.55 if w < h else 0.5))  # portrait/square: above
        picture = (margin, top, _even(w - 2 * margin), ph)
        ty = top + ph + margin
        return cls(size, bar, margin, picture, (margin, ty, w - 2 * margin, bottom - ty))


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def draw_card(
    layout: CardLayout,
    *,
    title: str,
    detail: str,
    prompt: str,
    footer: str,
    background: tuple[int, int, int],
    picture_label: str = "",
    film: bool = False,
) -> Image.Image:
    """One shot's card: title bar, the prompt, a footer naming its references.

    The picture box is left empty (the renderer overlays the moving picture
    there; `picture_label`, above the prompt, says which reference it is) and
    the bottom-left corner is kept clear for the running timecode (wider when
    it also says the film's time: `film`).
    """
    w, h = layout.size
    card = Image.new("RGB", (w, h), background)
    draw = ImageDraw.Draw(card)
    bar = layout.bar
    draw.rectangle((0, 0, w, bar), fill=BAR)
    draw.rectangle((0, h - bar, w, h), fill=BAR)
    title_face = font(max(10, int(bar * 0.5)), bold=True)
    small = font(max(9, int(bar * 0.36)))
    draw.text((layout.margin, bar // 2), title, font=title_face, fill=INK, anchor="lm")
    draw.text((w - layout.margin, bar // 2), detail, font=small, fill=DIM, anchor="rm")
    tc_width = timecode_width(bar, film=film)
    largest = max(9, int(bar * 0.34))
    footer_face, footer_lines, footer_step = fit_text(  # beside the timecode, never over it
        footer,
        (w - 3 * layout.margin - tc_width, round(bar * 0.8)),
        largest=largest,
        smallest=max(8, int(bar * 0.2)),
        spacing=1.15,
    )
    top = h - bar // 2 - (len(footer_lines) - 1) * footer_step // 2
    for i, line in enumerate(footer_lines):
        draw.text(
            (w - layout.margin, top + i * footer_step),
            line,
            font=footer_face,
            fill=DIM,
            anchor="rm",
        )
    if layout.picture is not None:
        x, y, pw, ph = layout.picture
        draw.rectangle((x - 2, y - 2, x + pw + 1, y + ph + 1), outline=DIM)
    tx, ty, tw, th = layout.text
    short = min(w, h)
    if picture_label:  # outside the picture box: a frame cut from it never holds text
        label_face, label_lines, label_step = fit_text(
            picture_label,
            (tw, round(largest * 1.3)),
            largest=largest,
            smallest=max(8, int(bar * 0.22)),
        )
        draw.text((tx, ty), label_lines[0], font=label_face, fill=DIM)
        ty, th = ty + label_step + layout.margin // 2, th - label_step - layout.margin // 2
    face, lines, step = fit_text(
        prompt, (tw, th), largest=max(12, int(short * 0.048)), smallest=max(9, int(short * 0.02))
    )
    for i, line in enumerate(lines):
        draw.text((tx, ty + i * step), line, font=face, fill=INK)
    return card


def timecode_width(bar: int, *, film: bool = False) -> int:
    sample = "film 00:00:00:00  clip 00.00  shot 00" if film else "00:00:00:00  shot 00 00.00"
    return _even(font(max(10, int(bar * 0.46))).getlength(sample) + 8)


def _smpte(frame: int, fps: int) -> str:
    seconds, ff = divmod(frame, fps)
    minutes, ss = divmod(seconds, 60)
    hours, mm = divmod(minutes, 60)
    return f"{hours:02d}:{mm:02d}:{ss:02d}:{ff:02d}"


def timecode_rows(
    frames: int, fps: int, shot_starts: Sequence[int], film: FilmSpan | None = None
) -> list[str]:
    """The timecode of each frame of a clip.

    Not in the cut (`film` None): the clip's own, `HH:MM:SS:FF  shot N SS.FF`. In the
    cut: the film's first, where a note "at 0:44" finds the moment, then the clip's
    own seconds and the shot: `film HH:MM:SS:FF  clip SS.FF  shot N`; a frame the
    cut trims away says `film --:--:--:--`."""
    rows, shot = [], 0
    for n in range(frames):
        while shot + 1 < len(shot_starts) and n >= shot_starts[shot + 1]:
            shot += 1
        local = (n - shot_starts[shot]) / fps
        if film is None:
            rows.append(f"{_smpte(n, fps)}  shot {shot + 1} {local:05.2f}")
            continue
        at = film.film_frame(n)
        where = _smpte(at, fps) if at is not None else "--:--:--:--"
        rows.append(f"film {where}  clip {n / fps:05.2f}  shot {shot + 1}")
    return rows


def timecode_strip(
    frames: int, fps: int, bar: int, shot_starts: Sequence[int], film: FilmSpan | None = None
) -> tuple[Image.Image, tuple[int, int]]:
    """A tall image with one row per frame (`timecode_rows`).

    The renderer crops row `n` at frame `n`, so every frame shows its own
    timecode without needing ffmpeg's drawtext (not every build has it).
    Returns the image and the (width, height) of one row.
    """
    face = font(max(10, int(bar * 0.46)))
    row_w, row_h = timecode_width(bar, film=film is not None), _even(bar * 0.8)
    strip = Image.new("RGB", (row_w, row_h * frames), BAR)
    draw = ImageDraw.Draw(strip)
    for n, text in enumerate(timecode_rows(frames, fps, shot_starts, film)):
        draw.text((4, n * row_h + row_h // 2), text, font=face, fill=INK, anchor="lm")
    return strip, (row_w, row_h)


def picture_area(
    frame: Image.Image, kind: PictureKind, colour: tuple[int, int, int]
) -> Image.Image:
    """The picture an upstream preview frame shows, without its card around it.

    A card's frame: its picture box (the layout is a function of the frame's size,
    so the box is found again exactly). A card that showed no picture: a plain
    frame of its background. A base edit: the video between its title bar and
    its banner."""
    w, h = frame.size
    if kind == "plain":
        layout = CardLayout.for_size((w, h), with_picture=True)
        assert layout.picture is not None
        return Image.new("RGB", layout.picture[2:], colour)
    if kind == "edit":
        bar = CardLayout.for_size((w, h), with_picture=False).bar
        return frame.convert("RGB").crop((0, bar, w, h - bar - _banner_height(h)))
    layout = CardLayout.for_size((w, h), with_picture=True)
    assert layout.picture is not None
    x, y, pw, ph = layout.picture
    return frame.convert("RGB").crop((x, y, x + pw, y + ph))


def _banner_height(h: int) -> int:
    return _even(h * 0.3)


def cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` scaled and centre-cropped to fill `size` exactly."""
    return ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)


def fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` scaled to fit inside `size`, centred on a dark mat."""
    return ImageOps.pad(image.convert("RGB"), size, Image.Resampling.LANCZOS, color=BAR)


def banner(size: tuple[int, int], *, title: str, text: str) -> Image.Image:
    """A transparent overlay for a base edit: a title bar and the edit prompt at the bottom."""
    w, h = size
    layout = CardLayout.for_size(size, with_picture=False)
    overlay = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    bar = layout.bar
    draw.rectangle((0, 0, w, bar), fill=(*BAR, 255))  # hides the source title
    draw.text(
        (layout.margin, bar // 2),
        title,
        font=font(int(bar * 0.5), bold=True),
        fill=INK,
        anchor="lm",
    )
    box_h = _banner_height(h)
    face, lines, step = fit_text(
        text,
        (w - 2 * layout.margin, box_h - layout.margin),
        largest=max(12, int(min(w, h) * 0.045)),
        smallest=max(9, int(min(w, h) * 0.02)),
    )
    top = h - bar - box_h
    draw.rectangle((0, top, w, h), fill=(*BAR, 170))
    for i, line in enumerate(lines):
        draw.text((layout.margin, top + layout.margin // 2 + i * step), line, font=face, fill=INK)
    return overlay


def contact_sheet(
    thumbs: Sequence[tuple[Image.Image, str]], *, columns: int = 4, width: int = 320
) -> Image.Image:
    """A grid of thumbnails, each captioned (scene/shot ids), for a film at a glance."""
    if not thumbs:
        raise ValueError("a contact sheet needs at least one thumbnail")
    first = thumbs[0][0]
    height = _even(width * first.height / first.width)
    caption = _even(width * 0.12)
    face = font(max(9, int(caption * 0.55)))
    columns = max(1, min(columns, len(thumbs)))
    rows = -(-len(thumbs) // columns)
    gap = 8
    sheet = Image.new(
        "RGB",
        (columns * (width + gap) + gap, rows * (height + caption + gap) + gap),
        (24, 24, 28),
    )
    draw = ImageDraw.Draw(sheet)
    for i, (thumb, label) in enumerate(thumbs):
        col, row = i % columns, i // columns
        x, y = gap + col * (width + gap), gap + row * (height + caption + gap)
        sheet.paste(ImageOps.pad(thumb.convert("RGB"), (width, height), color=(0, 0, 0)), (x, y))
        while label and face.getlength(label) > width - 4:
            label = label[:-1]
        draw.text((x + 2, y + height + caption // 2), label, font=face, fill=INK, anchor="lm")
    return sheet
