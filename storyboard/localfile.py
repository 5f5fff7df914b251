"""Opening the files a storyboard names: regular files only, never more than a bound.

A storyboard from a stranger may name a FIFO (an open that blocks for ever),
`/dev/zero` (a read that never ends) or a file far larger than any input we
accept. The path is stat'ed after symlinks are followed, opened with
O_NONBLOCK so that a FIFO swapped in meanwhile cannot block, and the opened
descriptor is stat'ed again: what is read is what was checked. Reads stop at
the bound plus one byte, which is enough to know a file is too large.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from storyboard.errors import FileRefused, FileTooLarge

_KINDS = (
    (stat.S_ISDIR, "is a directory, not a file"),
    (stat.S_ISFIFO, "is a FIFO (named pipe), not a regular file"),
    (stat.S_ISCHR, "is a character device, not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
)


def _not_regular(mode: int) -> str:
    for test, reason in _KINDS:
        if test(mode):
            return reason
    return "is not a regular file"


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError as exc:
        raise FileRefused(path, "file not found") from exc
    except ValueError as exc:  # os.stat refuses a path with a NUL byte this way
        raise FileRefused(path, "the path contains a NUL byte") from exc
    except OSError as exc:
        raise FileRefused(path, f"cannot read file: {exc.strerror or exc}") from exc


def check_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """The stat of `path` (symlinks followed) if it is a regular file; else FileRefused."""
    p = Path(path)
    st = _stat(p)
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(p, _not_regular(st.st_mode))
    return st


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for binary reading, refusing anything else without blocking."""
    p = Path(path)
    check_regular(p)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise FileRefused(p, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileRefused(p, _not_regular(mode))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The content of a regular file of at most `limit` bytes; else FileTooLarge.

    Never reads more than `limit + 1` bytes, whatever the file claims or becomes."""
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise FileTooLarge(path, size, limit)
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise FileRefused(path, f"cannot read file: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise FileTooLarge(path, len(data), limit)
    return data
