"""Temporary files and folders, named after the process that made them.

A stitch writes the film under a temporary name beside it and works in a
folder beside that; a preview render works in a folder beside its clip.
Each is named `.<name>.<kind>-<pid><suffix>` and removed when the work ends,
but a process killed by SIGKILL (or the machine going down) cannot remove
anything. So a stitch first sweeps the film's folder, and `render` and
`stitch` sweep the whole build directory once they hold its lock (`sweep`):
whatever is named after a process that no longer runs is a dead run's
leftover. Keeping them beside their output, not in the system's temp folder,
is what lets the next run find them; a live run's are never touched, lock or
no lock.

Every file the tool writes for others to read (plan, run record, clips,
pictures, cache entries) is written through `replacing` or `atomic_write`:
readers see the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

KINDS = ("partial", "work")
_TAGGED = re.compile(rf"^\..+\.(?:{'|'.join(KINDS)})-(?P<pid>\d+)(?:\.[A-Za-z0-9]+)*$")


def tagged(path: Path, kind: str, suffix: str = "") -> Path:
    """The name beside `path` this process uses for `kind` (one of KINDS)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return path.with_name(f".{path.stem.lstrip('.')}.{kind}-{os.getpid()}{suffix}")


@contextmanager
def replacing(dest: Path, suffix: str | None = None) -> Iterator[Path]:
    """A path of this writer's own beside `dest` that becomes `dest` atomically when
    the block ends, and is removed if it fails. It keeps `dest`'s suffix (or
    `suffix`), so that ffmpeg and PIL pick the format from the name; each call
    gets its own name, so two writers of one file (threads of one process
    included) never share a temporary."""
    ending = dest.suffix if suffix is None else suffix
    tmp = tagged(dest, "partial", f".{secrets.token_hex(4)}{ending}")
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(dest: Path, data: bytes | str) -> None:
    """Write `data` (text as UTF-8) to `dest` atomically."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with replacing(dest) as tmp:
        tmp.write_bytes(raw)


@contextmanager
def work_dir(beside: Path) -> Iterator[Path]:
    """A fresh folder beside `beside`, named after this process, removed on exit."""
    folder = tagged(beside, "work")
    shutil.rmtree(folder, ignore_errors=True)  # this pid's own, from a dead namesake
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep(folder: Path, *, recursive: bool = False) -> list[Path]:
    """Remove the tagged files and folders in `folder` (and below, if
    `recursive`) whose process is gone; return what was removed."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for root, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            match = _TAGGED.match(name)
            if match is None or _alive(int(match["pid"])):
                continue
            path = Path(root) / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        if not recursive:
            break
        dirs[:] = [d for d in dirs if not _TAGGED.match(d)]  # removed, or a live run's
    return removed


def _alive(pid: int) -> bool:
    """Does process `pid` run (ours included: its files are in use)?"""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OverflowError:  # not a pid this machine can have
        return False
    try:  # a zombie (dead, its parent has not reaped it yet) uses no file
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:  # not Linux, or gone since
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
