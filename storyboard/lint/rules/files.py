"""Local files: present, inside the storyboard's folder, and media the API accepts.

Only regular files are read (never a FIFO or a device), and never more
than the API takes. Images are read with Pillow (format from the content,
bytes, aspect: R9; pixels bounded from the header, then decoded whole);
videos are probed with PyAV (container, duration, size, fps, bytes: R14,
and 3-10 s because every video is a reference: R20), then their first and
last second decoded. A file that does not decode fails here, not at render.
URLs are only fetched with `--check-urls`. Every path the storyboard names
(`asset_root` and `output` too) is one the OS accepts: no NUL byte, no loop.
PyAV, Pillow and httpx are imported only when there is a file of their kind
(or a URL to check): most lints need none of them.

FAIL (SB501): the file does not exist.

    assets:
      keeper: {image: assets/missing.png}

PASS: a PNG of at least 300x300 px at that path.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from storyboard import media
from storyboard.bounds import MAX_IMAGE_PIXELS, MAX_PROBE_FRAMES, MAX_PROBE_SECONDS
from storyboard.errors import FileRefused, FileTooLarge, ProbeError, TooManyPixels, URLCheckError
from storyboard.language.model import Asset, AssetKind
from storyboard.lint.rules import Context, Rule, problem
from storyboard.localfile import check_regular, open_regular, read_bounded
from storyboard.problems import Pos, Problem
from storyboard.provider import api

if TYPE_CHECKING:
    from storyboard.media import MediaInfo  # (`media`'s names load on first use)

HEAD = "storyboard: 1\nassets:\n"
TAIL = "scenes:\n  - {id: a, prompt: x, duration: 5}\n"

RULES = {
    r.code: r
    for r in (
        Rule(
            "SB501",
            "",
            "local files exist",
            HEAD + "  keeper: {image: missing.png}\n" + TAIL,
            (3, 19),
            HEAD + "  keeper: {image: https://example.com/keeper.png}\n" + TAIL,
        ),
        Rule(
            "SB502",
            "",
            "local paths stay inside the storyboard's folder (or asset_root)",
            HEAD + "  keeper: {image: ../../etc/passwd.png}\n" + TAIL,
            (3, 19),
            HEAD + "  keeper: {image: https://example.com/keeper.png}\n" + TAIL,
        ),
        Rule(
            "SB503",
            "R9",
            "images are JPEG or PNG (by content and extension)",
            HEAD + "  keeper: {image: notes.txt.png}\n" + TAIL,
            (3, 19),
            HEAD + "  keeper: {image: https://example.com/keeper.png}\n" + TAIL,
        ),
        Rule(
            "SB504",
            "R9",
            "images are at most 10 MB, at least 300 px a side, aspect 1:2.5-2.5:1 "
            f"(and at most {MAX_IMAGE_PIXELS} pixels in all)",
            HEAD + "  keeper: {image: small.png}\n" + TAIL,
            (3, 19),
            HEAD + "  keeper: {image: big.png}\n" + TAIL,
        ),
        Rule(
            "SB505",
            "R14",
            "videos are MP4/MOV, 3-10 s, 720-2160 px a side, 24-60 fps, at most 200 MB",
            HEAD + "  v: {video: short.mp4}\n" + TAIL,
            (3, 14),
            HEAD + "  v: {video: https://example.com/v.mp4}\n" + TAIL,
        ),
        Rule(
            "SB506",
            "",
            "the music bed is a readable audio file",
            "storyboard: 1\naudio: {music: score.mp3}\n" + TAIL,
            (2, 16),
            "storyboard: 1\n" + TAIL,
        ),
        Rule(
            "SB507",
            "R8",
            "URLs answer with the media they promise (--check-urls)",
            HEAD + "  keeper: {image: http://127.0.0.1:9/none.png}\n" + TAIL,
            (3, 19),
            HEAD + "  keeper: {image: assets/keeper.png}\n" + TAIL,
        ),
    )
}


def usable_path(base_dir: Path, source: str) -> tuple[Path | None, str]:
    """`source` resolved against `base_dir`, or None and why the OS refuses it."""
    try:
        return (base_dir / source).resolve(), ""
    except ValueError:  # os.path.realpath refuses a NUL byte this way
        return None, f"{source!r} is not a usable path: it contains a NUL byte"
    except (OSError, RuntimeError) as exc:  # a symlink loop
        return None, f"{source!r} cannot be resolved: {exc}"


def _refused_hint(why: str) -> str:
    """What to do about a local path `resolve_local` refused, by why it did."""
    if "NUL byte" in why:
        return "write the file's name without the NUL byte (\\u0000)"
    if "cannot be resolved" in why:
        return "fix the symbolic links on the way to the file"
    return "keep assets inside this folder, or set asset_root: .."


def resolve_local(ctx: Context, source: str, base_dir: Path) -> tuple[Path | None, str]:
    """The file a local path names, or None and why it is refused."""
    root = ctx.story.asset_root
    story_dir = ctx.story.base_dir.resolve()
    if not story_dir.is_relative_to(root):
        return None, f"asset_root {root} is not an ancestor of the storyboard's folder"
    target, why = usable_path(base_dir, source)
    if target is None:
        return None, why
    if not target.is_relative_to(root):
        return None, f"{source!r} leads outside {root}"
    return target, ""


# The storyboard's own paths (not assets): where the film goes, how far assets may reach.
STORY_PATHS = ("asset_root", "output")


def _story_paths(ctx: Context) -> Iterator[tuple[str, Problem]]:
    for key in STORY_PATHS:
        raw = ctx.doc.data.get(key)
        if isinstance(raw, str):
            _, why = usable_path(ctx.story.base_dir, raw)
            if why:
                yield key, problem(RULES["SB502"], ctx.doc.pos((key,)), f"{key}: {why}")


def check(ctx: Context) -> Iterator[Problem]:
    unusable = dict(_story_paths(ctx))
    yield from unusable.values()
    if "asset_root" in unusable:  # every local path is judged against it
        return
    for asset in ctx.story.assets.values():
        if asset.source is None:
            continue
        pos = asset.source_pos or asset.pos
        if asset.is_url:
            if ctx.check_urls:
                yield from _url(asset, pos, allow_private=ctx.allow_private_urls)
            continue
        path, why = resolve_local(ctx, asset.source, asset.base_dir)
        if path is None:
            yield problem(
                RULES["SB502"],
                pos,
                why,
                hint=_refused_hint(why),
            )
            continue
        try:
            check_regular(path)
        except FileRefused as exc:
            why = _refusal(asset.source, exc)
            yield problem(RULES["SB501"], pos, why, hint=_missing_hint(path, asset.source))
            continue
        if asset.kind is AssetKind.IMAGE:
            yield from _image(path, asset, pos)
        elif asset.kind is AssetKind.VIDEO:
            yield from _video(path, asset, pos)
    audio = ctx.story.audio
    if audio is not None and not audio.music.startswith(("http://", "https://")):
        path, why = resolve_local(ctx, audio.music, ctx.story.base_dir)
        if path is None:
            yield problem(RULES["SB502"], audio.pos, why)
        else:
            yield from _audio(path, audio.music, audio.pos)


# A folder is listed only this far to suggest a name: a missing file in a huge
# folder costs lint no more than this.
MAX_LISTED = 2000


def _beside(path: Path) -> str | None:
    """The name of a file beside a missing `path` that is most likely the one meant:
    the same name in another case (`Logo.png`), the same stem with another extension
    (`logo.png` for `logo.jpg`), else a close spelling in the same folder."""
    try:
        with os.scandir(path.parent) as entries:
            names = [e.name for e in islice(entries, MAX_LISTED) if e.is_file()]
    except OSError:
        return None
    wanted = path.name
    for name in names:
        if name.casefold() == wanted.casefold():
            return name
    stem = path.stem.casefold()
    for name in sorted(names):
        if Path(name).stem.casefold() == stem:
            return name
    # Spelling is judged on the stems: a shared `.png` makes any two names look close.
    by_stem = {Path(n).stem: n for n in sorted(names)}
    close = difflib.get_close_matches(path.stem, list(by_stem), n=1, cutoff=0.6)
    return by_stem[close[0]] if close else None


def _missing_hint(path: Path, source: str | None) -> str:
    """Where lint looked, and the file beside it that was probably meant."""
    found = _beside(path)
    if found is None or source is None:
        return f"looked for {path}"
    head, _, _ = source.replace("\\", "/").rpartition("/")
    meant = f"{head}/{found}" if head else found
    return f"did you mean {meant!r}? (looked for {path})"


def _refusal(name: str | None, exc: FileRefused) -> str:
    return f"file not found: {name}" if exc.reason == "file not found" else f"{name} {exc.reason}"


def _audio(path: Path, name: str, pos: Pos) -> Iterator[Problem]:
    rule = RULES["SB506"]
    try:
        with open_regular(path) as fh:
            info = media.probe(path, file=fh)
    except FileRefused as exc:
        yield problem(rule, pos, _refusal(name, exc))
    except ProbeError as exc:
        yield problem(rule, pos, f"not readable as audio: {exc}")
    else:
        if not info.has_audio:
            yield problem(rule, pos, f"{name} has no audio stream")


def _image(path: Path, asset: Asset, pos: Pos) -> Iterator[Problem]:
    """R9, from a bounded read: the header decides format and pixels, then the
    image is decoded whole, so a truncated or corrupt one fails at lint."""
    name = asset.source or ""
    if path.suffix.lower() not in api.IMAGE_EXTENSIONS:
        yield problem(RULES["SB503"], pos, f"{name}: extension must be .jpg, .jpeg or .png")
    try:
        data = read_bounded(path, api.MAX_IMAGE_BYTES)
    except FileTooLarge as exc:
        limit = api.MAX_IMAGE_BYTES
        yield problem(RULES["SB504"], pos, f"{name} is {exc.size} bytes; at most {limit} (10 MB)")
        return
    except FileRefused as exc:
        yield problem(RULES["SB501"], pos, _refusal(name, exc))
        return
    try:
        info = media.image_header(data, max_pixels=MAX_IMAGE_PIXELS)
    except TooManyPixels as exc:
        yield problem(RULES["SB504"], pos, f"{name} is too large: {exc}", hint="scale it down")
        return
    except ProbeError:
        yield problem(RULES["SB503"], pos, f"{name} is not a readable image")
        return
    if info.format not in api.IMAGE_FORMATS:
        yield problem(
            RULES["SB503"],
            pos,
            f"{name} is {info.format}; the API takes JPEG or PNG",
            hint="convert it to PNG or JPEG",
        )
        return
    numbers = list(_image_numbers(name, len(data), info.width, info.height, pos))
    yield from numbers
    if numbers:
        return
    try:
        media.decode_image(data)
    except ProbeError as exc:
        yield problem(RULES["SB503"], pos, f"{name} does not decode: {exc}")


def _image_numbers(name: str, size: int, width: int, height: int, pos: Pos) -> Iterator[Problem]:
    rule = RULES["SB504"]
    if size > api.MAX_IMAGE_BYTES:
        yield problem(rule, pos, f"{name} is {size} bytes; at most {api.MAX_IMAGE_BYTES} (10 MB)")
    if min(width, height) < api.MIN_IMAGE_SIDE:
        yield problem(
            rule,
            pos,
            f"{name} is {width}x{height} px; each side needs at least {api.MIN_IMAGE_SIDE} px",
            hint="use a larger image",
        )
    aspect = width / height if height else 0
    if not 1 / api.MAX_IMAGE_ASPECT <= aspect <= api.MAX_IMAGE_ASPECT:
        yield problem(
            rule,
            pos,
            f"{name} is {width}x{height} px (aspect {aspect:.2f}); "
            "the aspect must be between 1:2.5 and 2.5:1",
            hint="crop it",
        )


def _video(path: Path, asset: Asset, pos: Pos) -> Iterator[Problem]:
    """R14 from the probe's numbers, then (when they are right) a strict decode of
    the first and last second, so a truncated or corrupt video fails at lint."""
    rule = RULES["SB505"]
    name = asset.source
    if path.suffix.lower() not in api.VIDEO_EXTENSIONS:
        yield problem(rule, pos, f"{name}: the API takes MP4 or MOV videos")
    info: MediaInfo | None = None
    numbers: list[Problem] = []
    try:
        with open_regular(path) as fh:
            info = media.probe(path, file=fh)
            numbers = list(_video_numbers(info, name, pos))
            if not numbers:
                media.decode_ends(fh, seconds=MAX_PROBE_SECONDS, max_frames=MAX_PROBE_FRAMES)
    except FileRefused as exc:
        yield problem(RULES["SB501"], pos, _refusal(name, exc))
        return
    except ProbeError as exc:
        what = "is not a readable video" if info is None else f"does not decode: {exc}"
        yield problem(rule, pos, f"{name} {what}")
        return
    yield from numbers


def _video_numbers(info: MediaInfo, name: str | None, pos: Pos) -> Iterator[Problem]:
    rule = RULES["SB505"]
    size = info.size_bytes
    if not info.has_video or ("mp4" not in info.format_name and "mov" not in info.format_name):
        yield problem(rule, pos, f"{name} is not an MP4/MOV video ({info.format_name})")
        return
    if size > api.MAX_VIDEO_BYTES:
        yield problem(rule, pos, f"{name} is {size} bytes; at most 200 MB")
    if not api.MIN_VIDEO_REF_SECONDS <= info.duration <= api.MAX_VIDEO_REF_SECONDS:
        yield problem(
            RULES["SB505"],
            pos,
            f"{name} lasts {info.duration:.2f} s; a reference video lasts 3-10 s (R14, R20)",
        )
    lo, hi = api.MIN_VIDEO_SIDE, api.MAX_VIDEO_SIDE
    if not (lo <= info.width <= hi and lo <= info.height <= hi):
        yield problem(
            rule,
            pos,
            f"{name} is {info.width}x{info.height} px; width and height must be {lo}-{hi} px",
            hint="scale it, e.g. to 1280x720",
        )
    if not api.MIN_VIDEO_FPS <= round(info.fps, 3) <= api.MAX_VIDEO_FPS:
        yield problem(rule, pos, f"{name} runs at {info.fps:.3g} fps; 24-60 fps is accepted")


def _url(asset: Asset, pos: Pos, *, allow_private: bool) -> Iterator[Problem]:
    """Check a URL's status, declared size and first bytes (magic numbers), safely:
    `urlcheck` refuses internal addresses and bounds time and bytes."""
    from storyboard.lint.urlcheck import check_url  # httpx: only with --check-urls

    rule = RULES["SB507"]
    url = asset.source or ""
    try:
        answer = check_url(url, allow_private=allow_private)
    except URLCheckError as exc:
        yield problem(rule, pos, f"{url}: {exc}")
        return
    if answer.status >= 300:
        yield problem(rule, pos, f"{url} answered HTTP {answer.status}")
        return
    head = answer.first_bytes
    image = asset.kind is AssetKind.IMAGE
    if image and not head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
        kind = answer.content_type or "unknown content"
        yield problem(rule, pos, f"{url} is not a PNG or JPEG image ({kind})", hint="R9")
    if not image and head[4:8] != b"ftyp":
        yield problem(rule, pos, f"{url} is not an MP4/MOV video", hint="R14")
    limit = api.MAX_IMAGE_BYTES if image else api.MAX_VIDEO_BYTES
    if answer.total_bytes is not None and answer.total_bytes > limit:
        yield problem(rule, pos, f"{url} is {answer.total_bytes} bytes; at most {limit}")
