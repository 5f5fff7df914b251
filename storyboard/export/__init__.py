"""Export the film's cut for an editor: OTIO, FCPXML, FCP 7 XML, CMX 3600 EDL, MLT.

`gather_edit` (`edit`) reads the rendered build with the stitcher's own
arithmetic; `build_timeline` (`timeline`) makes the OpenTimelineIO timeline,
laid out by `layout`; `formats` writes it with the format's OTIO adapter.
`export` does the three, and with `collect` first copies (or hard-links) the
clips and the music into a folder beside the timeline so that the folder is
the whole project, for an editor on another machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from storyboard import scratch
from storyboard.digest import file_sha256
from storyboard.errors import ExportError
from storyboard.export.edit import Edit, EditClip, gather_edit
from storyboard.export.formats import FORMATS, Format, reference, require_otio, write

if TYPE_CHECKING:
    from storyboard.compile.compiler import Compilation

__all__ = ["FORMATS", "Exported", "default_output", "export", "gather_edit"]


@dataclass(frozen=True)
class Exported:
    """What `export` wrote: the timeline file and what it holds."""

    path: Path
    format: Format
    frames: int
    clips: int
    transitions: int
    markers: int
    collected: tuple[Path, ...] = ()
    linked: int = 0  # of the collected files, how many are hard links


def _same(a: Path, b: Path) -> bool:
    """Whether two files hold the same bytes (sizes first, then SHA-256)."""
    return a.stat().st_size == b.stat().st_size and file_sha256(a) == file_sha256(b)


def _place(source: Path, dest: Path, link: bool) -> bool:
    """Put `source`'s bytes at `dest` (replacing, never writing through, what is
    there); True if `dest` is a hard link to it."""
    if dest.is_file() and not dest.is_symlink():
        if os.path.samefile(source, dest):
            return True
        if not link and _same(source, dest):
            return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    with scratch.replacing(dest) as partial:
        if link:
            with contextlib.suppress(OSError):  # another file system, or no links: copy
                os.link(source, partial)
                return True
        shutil.copyfile(source, partial)
    return False


def _collect(edit: Edit, folder: Path, link: bool) -> tuple[Edit, list[Path], int]:
    """Copy (or link) the cut's clips to `folder/clips/` and the music to
    `folder/music/`; the edit with its files there."""
    placed: list[Path] = []
    linked = 0
    clips: list[EditClip] = []
    for clip in edit.clips:
        dest = folder / "clips" / clip.path.name
        if dest not in placed:
            linked += _place(clip.path, dest, link)
            placed.append(dest)
        clips.append(replace(clip, path=dest))
    music = edit.music
    if music is not None:
        dest = folder / "music" / music.path.name
        linked += _place(music.path, dest, link)
        placed.append(dest)
        music = replace(music, path=dest)
    return replace(edit, clips=tuple(clips), music=music), placed, linked


def export(
    compiled: Compilation,
    story_path: Path,
    build_dir: Path,
    fmt: Format,
    out: Path,
    *,
    collect: Path | None = None,
    link: bool = False,
) -> Exported:
    """Export the film rendered in `build_dir` as `fmt` to `out`; with `collect`,
    its media are put in that folder first and referred to there."""
    require_otio(fmt)
    from storyboard.export.timeline import build_timeline

    edit = gather_edit(compiled, story_path, build_dir)
    placed: list[Path] = []
    linked = 0
    if collect is not None:
        if collect.exists() and not collect.is_dir():
            raise ExportError(f"--collect {collect}: not a folder")
        edit, placed, linked = _collect(edit, collect, link)
    if out.is_dir():
        raise ExportError(f"{out} is a folder; name the file to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    timeline = build_timeline(edit, reference(fmt, out))
    write(timeline, fmt, out, edit.size)
    return Exported(
        path=out,
        format=fmt,
        frames=edit.frames,
        clips=len(edit.clips),
        transitions=sum(
            1 for c in edit.clips if c.transition.type != "cut" and c.transition.duration
        ),
        markers=sum(len(c.shots) for c in edit.clips),
        collected=tuple(placed),
        linked=linked,
    )


def default_output(story_path: Path, build_dir: Path, fmt: Format, collect: Path | None) -> Path:
    """The timeline's file when `-o` is not given: in the collect folder, else
    beside the film in the build folder; named after the storyboard."""
    return (collect if collect is not None else build_dir) / f"{story_path.stem}{fmt.suffix}"
