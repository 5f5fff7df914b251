"""The SHA-256 of a file's bytes, hashed once per process while the file is unchanged.

The cache checks its clips by it, the build's journal records it, the film is
keyed by it and the stitcher keeps each clip's loudness under it: one clip is
read once however many of those ask in one run.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20
# What a file's hash was when it had this identity: the change time moves on any
# write (and cannot be set back), so a same-size byte flip is hashed again.
_Stamp = tuple[int, int, int, int, int]
_HASHES: dict[_Stamp, str] = {}


def _stamp(st: os.stat_result) -> _Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (remembered for this process while it is unchanged)."""
    with open(path, "rb") as handle:
        stamp = _stamp(os.fstat(handle.fileno()))
        known = _HASHES.get(stamp)
        if known is not None:
            return known
        digest = hashlib.sha256()
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    _HASHES[stamp] = digest.hexdigest()
    return _HASHES[stamp]
