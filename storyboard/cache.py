"""The clip cache: content-addressed by a task's cache key, shared across runs
and storyboards. A hit means the clip is never requested (or paid for) again.

Layout: `<root>/clips/<source>/<key[:2]>/<key>.mp4` and `<key>.json`
(metadata: task, duration, cost, remote ids). `source` is the backend's
(`preview-r2`, `kirin-api.example.com`): the same request made by another
backend is another clip, so an animatic or a mock's clip is never served
where the real provider's was asked for. Entries are written to a temporary name and
renamed, metadata last, so a half-written entry is never a hit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_ENV = "STORYBOARD_CACHE"
_SOURCE = re.compile(r"[A-Za-z0-9._-]+")


def default_cache_dir() -> Path:
    """`$STORYBOARD_CACHE`, else `$XDG_CACHE_HOME/storyboard`, else `~/.cache/storyboard`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "storyboard"


@dataclass(frozen=True)
class CacheEntry:
    key: str
    clip: Path
    meta: dict[str, Any]


class ClipCache:
    def __init__(self, root: Path | None = None, source: str = "") -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        if source and (source.startswith(".") or not _SOURCE.fullmatch(source)):
            raise ValueError(f"not a cache source: {source!r}")
        self.source = source

    def for_source(self, source: str) -> ClipCache:
        """The same cache, seen by one backend: only its clips are hits."""
        return ClipCache(self.root, source)

    def _base(self, key: str) -> Path:
        if len(key) < 8 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        if not self.source:  # the root alone is no shelf: clips are only ever per backend
            raise ValueError("read or write the cache through for_source(<backend source>)")
        return self.root / "clips" / self.source / key[:2] / key

    def get(self, key: str) -> CacheEntry | None:
        base = self._base(key)
        clip, meta = base.with_suffix(".mp4"), base.with_suffix(".json")
        if not (clip.is_file() and meta.is_file()):
            return None
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if data.get("bytes") not in (None, clip.stat().st_size):
            return None  # the clip was damaged after it was stored
        return CacheEntry(key, clip, data)

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def put(self, key: str, clip: Path, meta: dict[str, Any]) -> CacheEntry:
        """Store a copy of `clip` (hard link when possible) with its metadata."""
        base = self._base(key)
        base.parent.mkdir(parents=True, exist_ok=True)
        target = base.with_suffix(".mp4")
        tmp = base.with_suffix(".mp4.tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(clip, tmp)
        except OSError:
            shutil.copyfile(clip, tmp)
        tmp.replace(target)
        data = {**meta, "key": key, "bytes": target.stat().st_size}
        meta_tmp = base.with_suffix(".json.tmp")
        meta_tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        meta_tmp.replace(base.with_suffix(".json"))
        return CacheEntry(key, target, data)
