"""Make the small bundled assets of every example storyboard.

Run from anywhere: ``python examples/make_assets.py``. The output is
deterministic (fixed seeds, Pillow's bundled font, bit-exact ffmpeg flags,
one encoder thread) and committed, so re-running it should leave
``git status`` clean on the same Pillow/ffmpeg versions.

Images are drawn with Pillow and sized for the API's image rules (R9: PNG or
JPEG, at least 300 px a side, aspect between 1:2.5 and 2.5:1). The one video
(``lighthouse/assets/storm.mp4``) is a 4 s, 1280x720, 24 fps H.264 clip, as a
reference video must be (R14, R20). The music beds are short sine-chord MP3s.
"""

from __future__ import annotations

import math
import random
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from storyboard.media import run_ffmpeg  # noqa: E402

RGB = tuple[int, int, int]


# --------------------------------------------------------------------------- helpers


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font (same on every machine), scaled when Pillow can."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def vgradient(size: tuple[int, int], top: RGB, bottom: RGB) -> Image.Image:
    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    for y in range(h):
        t = y / max(h - 1, 1)
        draw.line(
            [(0, y), (w, y)],
            fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    return img


def centered_text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    size: int,
    fill: RGB,
    stroke: RGB | None = None,
) -> None:
    f = font(size)
    width = max(1, size // 14) if stroke else 0
    draw.text(xy, text, font=f, fill=fill, anchor="mm", stroke_width=width, stroke_fill=stroke)


def save(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        img.convert("RGB").save(path, "JPEG", quality=82, optimize=True)
    else:
        img.save(path, "PNG", optimize=True)
    print(f"  {path.relative_to(HERE)}  {img.width}x{img.height}  {path.stat().st_size // 1024} KB")


# --------------------------------------------------------------------------- lighthouse


def draw_lighthouse(
    draw: ImageDraw.ImageDraw, base_x: float, base_y: float, height: float, lamp: RGB, beam: bool
) -> None:
    """A striped tapering tower with a gallery and a lamp room, standing on base_y."""
    bw, tw = height * 0.22, height * 0.13
    top_y = base_y - height
    bands = 6
    for i in range(bands):
        y0 = base_y - height * i / bands
        y1 = base_y - height * (i + 1) / bands
        w0 = bw + (tw - bw) * i / bands
        w1 = bw + (tw - bw) * (i + 1) / bands
        colour = (236, 232, 224) if i % 2 == 0 else (196, 40, 44)
        draw.polygon(
            [
                (base_x - w0 / 2, y0),
                (base_x + w0 / 2, y0),
                (base_x + w1 / 2, y1),
                (base_x - w1 / 2, y1),
            ],
            fill=colour,
        )
    draw.rectangle([base_x - tw * 0.75, top_y - 6, base_x + tw * 0.75, top_y], fill=(40, 40, 48))
    draw.rectangle(
        [base_x - tw * 0.45, top_y - height * 0.14, base_x + tw * 0.45, top_y - 6],
        fill=lamp,
        outline=(40, 40, 48),
        width=3,
    )
    draw.polygon(
        [
            (base_x - tw * 0.6, top_y - height * 0.14),
            (base_x + tw * 0.6, top_y - height * 0.14),
            (base_x, top_y - height * 0.24),
        ],
        fill=(40, 40, 48),
    )
    if beam:
        cy = top_y - height * 0.08
        draw.polygon(
            [
                (base_x, cy),
                (base_x - height * 1.6, cy - height * 0.35),
                (base_x - height * 1.6, cy + height * 0.12),
            ],
            fill=(255, 246, 196),
        )


def lighthouse_scene(night: bool) -> Image.Image:
    w, h = 640, 360
    sky = (
        vgradient((w, h), (18, 24, 58), (58, 70, 120))
        if night
        else vgradient((w, h), (250, 196, 120), (255, 236, 200))
    )
    draw = ImageDraw.Draw(sky)
    rng = random.Random(11 if night else 3)
    if night:
        for _ in range(60):
            x, y = rng.randrange(w), rng.randrange(int(h * 0.55))
            draw.point((x, y), fill=(230, 230, 255))
        draw.ellipse([500, 40, 540, 80], fill=(240, 240, 220))
    else:
        draw.ellipse([70, 170, 150, 250], fill=(255, 170, 80))  # low sun
    sea_top = int(h * 0.68)
    sea = (22, 44, 82) if night else (54, 110, 150)
    draw.rectangle([0, sea_top, w, h], fill=sea)
    for i in range(9):  # wave lines
        y = sea_top + 8 + i * 12
        for x0 in range(-40 + (i % 2) * 20, w, 60):
            draw.arc(
                [x0, y - 4, x0 + 40, y + 6],
                200,
                340,
                fill=(120, 150, 190) if night else (200, 230, 240),
                width=2,
            )
    rock = (28, 26, 30) if night else (70, 60, 56)
    draw.polygon(
        [
            (360, sea_top + 6),
            (400, sea_top - 30),
            (520, sea_top - 40),
            (600, sea_top - 10),
            (640, sea_top + 10),
            (640, sea_top + 20),
            (360, sea_top + 20),
        ],
        fill=rock,
    )
    draw_lighthouse(
        draw, 470, sea_top - 34, 140, lamp=(255, 230, 120) if night else (250, 250, 235), beam=night
    )
    return sky.filter(ImageFilter.SMOOTH)


def keeper_card() -> Image.Image:
    w, h = 400, 520
    img = vgradient((w, h), (44, 62, 80), (24, 32, 44))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle([12, 12, w - 12, h - 12], radius=18, outline=(214, 180, 110), width=4)
    cx = w // 2
    draw.ellipse([cx - 120, 300, cx + 120, 560], fill=(30, 56, 92))  # oilskin coat
    draw.rectangle([cx - 18, 280, cx + 18, 318], fill=(232, 190, 150))  # neck
    draw.ellipse([cx - 72, 130, cx + 72, 300], fill=(238, 196, 156))  # face
    draw.chord([cx - 78, 200, cx + 78, 330], 0, 180, fill=(226, 226, 222))  # white beard
    draw.ellipse([cx - 38, 200, cx - 20, 218], fill=(30, 30, 36))  # eyes
    draw.ellipse([cx + 20, 200, cx + 38, 218], fill=(30, 30, 36))
    draw.rectangle([cx - 86, 120, cx + 86, 150], fill=(26, 26, 34))  # cap brim
    draw.chord([cx - 70, 60, cx + 70, 180], 180, 360, fill=(26, 26, 34))  # cap
    draw.ellipse([cx - 10, 84, cx + 10, 104], fill=(214, 180, 110))  # badge
    draw.rectangle([24, 430, w - 24, 500], fill=(214, 180, 110))
    centered_text(draw, (cx, 452), "THE KEEPER", 34, (24, 32, 44))
    centered_text(draw, (cx, 484), "Elias Marr, 64", 20, (24, 32, 44))
    return img


def storm_frame(
    i: int, n: int, size: tuple[int, int], drops: list[tuple[int, int, int]]
) -> Image.Image:
    w, h = size
    t = i / n
    flash = 40 <= i <= 42
    img = vgradient(size, (120, 124, 140) if flash else (26, 30, 40), (60, 66, 84))
    draw = ImageDraw.Draw(img)
    for k in range(5):  # drifting clouds
        cx = (k * 300 + t * 420 * (1 + k % 2)) % (w + 300) - 150
        draw.ellipse(
            [cx - 180, 40 + k * 28, cx + 180, 150 + k * 28],
            fill=(44 + k * 6, 48 + k * 6, 60 + k * 6),
        )
    sea_top = int(h * 0.7)
    draw.rectangle([0, sea_top, w, h], fill=(16, 34, 52))
    for row in range(6):  # swell
        y = sea_top + 20 + row * 40
        phase = t * 2 * math.pi * 2 + row
        pts = [(x, y + 14 * math.sin(x / 90 + phase)) for x in range(0, w + 20, 20)]
        draw.line(pts, fill=(70, 100, 130), width=4)
    draw_lighthouse(draw, 980, sea_top, 330, lamp=(255, 230, 120), beam=False)
    for x, y, speed in drops:  # rain
        yy = (y + i * speed) % h
        xx = (x - i * speed // 3) % w
        draw.line([(xx, yy), (xx - 8, yy + 26)], fill=(150, 160, 180), width=2)
    if flash:
        draw.line([(300, 0), (340, 120), (310, 170), (360, 330)], fill=(250, 250, 255), width=6)
    return img


def make_storm(path: Path, seconds: int = 4, fps: int = 24) -> None:
    size = (1280, 720)
    n = seconds * fps
    rng = random.Random(5)
    drops = [
        (rng.randrange(size[0]), rng.randrange(size[1]), rng.randrange(18, 30)) for _ in range(140)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            storm_frame(i, n, size, drops).save(Path(tmp) / f"f{i:04d}.png", compress_level=1)
        encode_frames(Path(tmp) / "f%04d.png", fps, path)
    print(
        f"  {path.relative_to(HERE)}  {size[0]}x{size[1]} {seconds}s {fps}fps"
        f"  {path.stat().st_size // 1024} KB"
    )


# --------------------------------------------------------------------------- sneaker ad


def draw_sneaker(
    draw: ImageDraw.ImageDraw, x: float, y: float, s: float, upper: RGB, accent: RGB
) -> None:
    """A side-view running shoe, toe to the right; (x, y) is the heel bottom, s the scale."""

    def p(px: float, py: float) -> tuple[float, float]:
        return (x + px * s, y - py * s)

    draw.rounded_rectangle(
        [*p(-4, 14), *p(104, -2)],
        radius=int(7 * s),
        fill=(245, 245, 245),
        outline=(60, 60, 60),
        width=max(2, int(s)),
    )  # sole
    draw.rectangle([*p(-2, 4), *p(102, 0)], fill=accent)  # sole stripe
    draw.polygon(
        [
            p(0, 14),
            p(0, 44),
            p(6, 50),
            p(24, 48),
            p(40, 40),
            p(66, 34),
            p(90, 27),
            p(104, 19),
            p(104, 14),
        ],
        fill=upper,
        outline=(40, 40, 40),
    )  # upper
    draw.polygon([p(14, 20), p(54, 36), p(84, 24), p(62, 23), p(48, 30)], fill=accent)  # stripe
    for k in range(4):  # laces
        lx = 40 + k * 9
        draw.line(
            [p(lx, 42 - k * 2.2), p(lx + 6, 35 - k * 2.2)],
            fill=(250, 250, 250),
            width=max(2, int(s * 1.2)),
        )
    draw.line([p(0, 44), p(-4, 52)], fill=upper, width=max(3, int(s * 2)))  # pull tab


def sneaker_product() -> Image.Image:
    w, h = 640, 400
    img = vgradient((w, h), (236, 240, 246), (206, 214, 226))
    draw = ImageDraw.Draw(img)
    draw.ellipse([110, 300, 540, 340], fill=(180, 186, 198))
    draw_sneaker(draw, 120, 310, 4.0, upper=(20, 120, 220), accent=(255, 200, 0))
    centered_text(draw, (w / 2, 40), "AERO RUNNER", 30, (20, 40, 80))
    return img.filter(ImageFilter.SMOOTH)


def street_portrait() -> Image.Image:
    w, h = 360, 640
    img = vgradient((w, h), (252, 146, 80), (90, 60, 120))
    draw = ImageDraw.Draw(img)
    rng = random.Random(21)
    x = -10
    while x < w:  # skyline
        bw = rng.randrange(40, 80)
        top = rng.randrange(160, 330)
        draw.rectangle([x, top, x + bw, 470], fill=(48, 36, 70))
        for wy in range(top + 12, 460, 22):
            for wx in range(x + 8, x + bw - 8, 16):
                if rng.random() < 0.45:
                    draw.rectangle([wx, wy, wx + 6, wy + 10], fill=(255, 214, 120))
        x += bw + 4
    draw.rectangle([0, 470, w, h], fill=(60, 60, 70))  # street
    for k in range(6):
        draw.polygon(
            [(170, 480 + k * 28), (190, 480 + k * 28), (196, 496 + k * 28), (164, 496 + k * 28)],
            fill=(240, 220, 120),
        )
    draw.ellipse([100, 560, 260, 590], fill=(40, 40, 46))  # puddle
    draw_sneaker(draw, 118, 570, 1.3, upper=(20, 120, 220), accent=(255, 200, 0))
    return img


def packshot_portrait() -> Image.Image:
    w, h = 360, 640
    img = vgradient((w, h), (18, 22, 34), (40, 56, 96))
    draw = ImageDraw.Draw(img)
    draw.polygon([(60, 420), (300, 420), (330, 470), (30, 470)], fill=(226, 230, 238))  # plinth
    draw.rectangle([30, 470, 330, 520], fill=(176, 182, 196))
    for r in range(160, 40, -20):  # spotlight
        c = 40 + (160 - r) // 2
        draw.ellipse([180 - r, 300 - r, 180 + r, 300 + r // 2], outline=(c, c + 8, c + 30))
    draw_sneaker(draw, 62, 430, 2.3, upper=(20, 120, 220), accent=(255, 200, 0))
    centered_text(draw, (w / 2, 96), "STRIDE", 56, (255, 200, 0), stroke=(10, 10, 20))
    centered_text(draw, (w / 2, 150), "Aero Runner", 28, (236, 240, 246))
    centered_text(draw, (w / 2, 580), "run the city", 24, (200, 210, 230))
    return img


# --------------------------------------------------------------------------- recipe


def ingredients_board() -> Image.Image:
    w, h = 512, 512
    img = Image.new("RGB", (w, h), (236, 226, 206))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle([36, 36, w - 36, h - 36], radius=30, fill=(196, 150, 98))  # board
    for y in range(60, h - 50, 14):
        draw.line([(50, y), (w - 50, y + 4)], fill=(184, 138, 88), width=2)
    for cx, cy in [(150, 150), (230, 130)]:  # tomatoes
        draw.ellipse([cx - 50, cy - 46, cx + 50, cy + 46], fill=(214, 40, 36))
        draw.polygon([(cx, cy - 50), (cx - 14, cy - 36), (cx + 14, cy - 36)], fill=(50, 130, 50))
    for k, (cx, cy) in enumerate([(360, 160), (400, 240), (330, 250)]):  # eggs
        draw.ellipse(
            [cx - 30, cy - 40, cx + 30, cy + 40], fill=(246, 238, 222) if k % 2 else (226, 190, 150)
        )
    draw.polygon([(120, 320), (230, 290), (260, 340), (140, 380)], fill=(240, 190, 30))  # pepper
    draw.polygon([(270, 330), (380, 300), (410, 350), (290, 390)], fill=(60, 150, 60))
    for k in range(3):  # garlic
        cx = 160 + k * 40
        draw.ellipse([cx - 18, 410, cx + 18, 450], fill=(250, 246, 236), outline=(200, 190, 170))
    draw.ellipse([340, 400, 420, 450], fill=(150, 30, 20))  # paprika
    draw.ellipse([350, 406, 410, 440], fill=(196, 60, 30))
    centered_text(draw, (w / 2, 474), "mise en place", 24, (70, 44, 20))
    return img.filter(ImageFilter.SMOOTH)


def pan_topdown() -> Image.Image:
    w, h = 512, 512
    img = Image.new("RGB", (w, h), (60, 62, 66))
    draw = ImageDraw.Draw(img)
    for y in range(0, h, 64):  # tiles
        draw.line([(0, y), (w, y)], fill=(72, 74, 80), width=2)
        draw.line([(y, 0), (y, h)], fill=(72, 74, 80), width=2)
    draw.rectangle([380, 236, 512, 276], fill=(30, 30, 32))  # handle
    draw.ellipse([40, 60, 420, 440], fill=(34, 34, 38))  # pan
    draw.ellipse([64, 84, 396, 416], fill=(186, 40, 24))  # sauce
    rng = random.Random(9)
    for _ in range(40):
        x, y = rng.randrange(100, 360), rng.randrange(120, 380)
        draw.ellipse([x - 6, y - 4, x + 6, y + 4], fill=(220, 70, 40))
    for cx, cy in [(170, 180), (290, 190), (160, 310), (290, 320), (230, 250)]:  # eggs
        draw.ellipse([cx - 40, cy - 34, cx + 40, cy + 34], fill=(250, 248, 240))
        draw.ellipse([cx - 15, cy - 15, cx + 15, cy + 15], fill=(250, 176, 20))
    for _ in range(24):  # herbs
        x, y = rng.randrange(110, 350), rng.randrange(120, 380)
        draw.ellipse([x - 4, y - 3, x + 4, y + 3], fill=(60, 150, 60))
    return img.filter(ImageFilter.SMOOTH)


# --------------------------------------------------------------------------- audio / video


BITEXACT = ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags", "+bitexact"]


def encode_frames(pattern: Path, fps: int, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        [
            "-framerate",
            str(fps),
            "-i",
            str(pattern),
            "-c:v",
            "libx264",
            "-preset",
            "veryslow",
            "-crf",
            "40",
            "-pix_fmt",
            "yuv420p",
            "-threads",
            "1",
            "-x264-params",
            "threads=1",
            "-r",
            str(fps),
            "-movflags",
            "+faststart",
            *BITEXACT,
            "-an",
            str(out),
        ]
    )


def make_music(
    path: Path, chords: list[list[float]], seconds_per_chord: float, repeats: int
) -> None:
    """A soft pad: each chord a sum of sines with a short swell, the progression repeated."""
    total = len(chords) * seconds_per_chord * repeats
    # One aevalsrc expression: pick the chord by time, sum its notes, shape with a
    # per-chord envelope so that chord changes do not click.
    n = len(chords)
    parts = []
    for k, chord in enumerate(chords):
        notes = "+".join(f"sin(2*PI*{f:.2f}*t)" for f in chord)
        parts.append(f"eq(mod(floor(t/{seconds_per_chord}),{n}),{k})*({notes})/{len(chord)}")
    spc = seconds_per_chord
    env = f"min(1,mod(t,{spc})*4)*min(1,({spc}-mod(t,{spc}))*4)"
    expr = f"0.3*({env})*(" + "+".join(parts) + ")"
    path.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            f"aevalsrc='{expr}':s=44100:c=mono:d={total}",
            "-af",
            f"afade=t=in:d=1,afade=t=out:st={total - 2}:d=2",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
            "-ac",
            "1",
            *BITEXACT,
            str(path),
        ]
    )
    print(f"  {path.relative_to(HERE)}  {total:g}s  {path.stat().st_size // 1024} KB")


# --------------------------------------------------------------------------- main

A_MINOR = [
    [220.00, 261.63, 329.63],
    [174.61, 220.00, 261.63],
    [130.81, 164.81, 196.00],
    [196.00, 246.94, 293.66],
]  # Am F C G
C_MAJOR = [
    [261.63, 329.63, 392.00],
    [220.00, 261.63, 329.63],
    [174.61, 220.00, 261.63],
    [196.00, 246.94, 293.66],
]  # C Am F G


def lighthouse() -> None:
    out = HERE / "lighthouse/assets"
    save(lighthouse_scene(night=False), out / "lighthouse.jpg")
    save(lighthouse_scene(night=True), out / "lighthouse_night.jpg")
    save(keeper_card(), out / "keeper.png")
    make_storm(out / "storm.mp4")
    make_music(out / "score.mp3", A_MINOR, 3.0, 2)


def sneaker_ad() -> None:
    out = HERE / "sneaker-ad/assets"
    save(sneaker_product(), out / "sneaker.png")
    save(street_portrait(), out / "street.jpg")
    save(packshot_portrait(), out / "packshot.png")


def recipe_square() -> None:
    out = HERE / "recipe-square/assets"
    save(ingredients_board(), out / "ingredients.jpg")
    save(pan_topdown(), out / "pan.png")
    make_music(out / "score.mp3", C_MAJOR, 2.5, 2)


EXAMPLES: dict[str, Callable[[], None]] = {
    "lighthouse": lighthouse,
    "sneaker-ad": sneaker_ad,
    "recipe-square": recipe_square,
}


def main() -> int:
    for name, make in EXAMPLES.items():
        print(name)
        make()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
