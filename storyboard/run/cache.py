"""The clip cache: content-addressed by a task's cache key, shared across runs
and storyboards. A hit means the clip is never requested (or paid for) again.

Layout: `<root>/clips/<source>/<key[:2]>/<key>.mp4` and `<key>.json`
(metadata: task, duration, cost, remote ids, and the clip's `sha256`). Take
k > 1 of the same request (language.takes) is its own entry beside it,
`<key>-t<k>.mp4`: every take that was paid for is kept, none overwrites another.
`source` is the backend's (`preview-r4`, `kirin-api.example.com`): the same
request made by another backend is another clip, so an animatic or a mock's
clip is never served where the real provider's was asked for. A shelf whose
clips depend on more than the request (the preview's cards show the film's
time and the author's names) gives that more as a per-key `variant`, and the
entry is `<key>~<variant>`: a card is never served with notes it was not
drawn with, and the request's key (kirin's) never changes for it.

Trust nothing on disk: every entry carries the SHA-256 of its clip, written
when it is stored and checked whenever it is used, so a flipped byte is a
damaged entry (a miss that says why), never a clip in the film. The cache's
bytes have no second name: what leaves the cache is a copy (a reflink where
the file system can), so damage to a build's clip cannot reach the cache or
the other way round. Writers use temporary names of their own and a lock per
entry; a put that finds a sound entry already there (another writer won) is a
success, and the metadata goes last, so a half-written entry is never a hit.

Where it is (`open_cache`): a folder (the default, or `--cache PATH`, `file://`),
or a store many machines share (`s3://bucket/prefix`, `run.shared_store`). A
shared cache keeps the local default folder as a read-through mirror: a lookup
tries the folder, then the store, whose clip is downloaded, checked against its
hash and installed in the folder, so an entry's clip and the cache's `root` are
always on this machine; a put stores in the folder, then in the store.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

try:
    import fcntl
except ImportError:  # not POSIX: no lock; unique temporary names still keep writers apart
    fcntl = None  # type: ignore[assignment]

from storyboard import scratch
from storyboard.digest import file_sha256
from storyboard.errors import CacheError
from storyboard.language.takes import take_suffix
from storyboard.run.location import parse_location

if TYPE_CHECKING:
    from storyboard.run.shared_store import SharedStore

CACHE_ENV = "STORYBOARD_CACHE"
_SOURCE = re.compile(r"[A-Za-z0-9._-]+")
_VARIANT = re.compile(r"[0-9a-f]{1,64}")
_CHUNK = 1 << 20
_FICLONE = 0x40049409  # Linux ioctl: share the extents of a file (btrfs, xfs, ...)
STORE_PACKAGES = ("fsspec", "s3fs", "botocore", "aiobotocore")  # the extra `storyboard[s3]`


def default_cache_dir() -> Path:
    """The cache's folder on this machine: `$STORYBOARD_CACHE` when it names a folder,
    else `$XDG_CACHE_HOME/storyboard`, else `~/.cache/storyboard`. A shared cache
    (`s3://…`) mirrors its clips here."""
    named = os.environ.get(CACHE_ENV)
    if named:
        with contextlib.suppress(CacheError):  # a bad URL: open_cache says what is wrong
            where = parse_location(named)
            if isinstance(where, Path):
                return where
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "storyboard"


def open_cache(location: str | os.PathLike[str] | None = None) -> ClipCache:
    """The clip cache at `location`: a folder, `file:///FOLDER` or `s3://BUCKET/PREFIX`
    (shared; mirrored in `default_cache_dir()`). None: `$STORYBOARD_CACHE`, else the
    default folder. Raises CacheError for a location that names none of these, or a
    store whose packages are not installed. Opening sends nothing."""
    if location is None:
        location = os.environ.get(CACHE_ENV) or None
    if location is None:
        return ClipCache(default_cache_dir())
    if not isinstance(location, str):
        return ClipCache(Path(location))
    where = parse_location(location)
    if isinstance(where, Path):
        return ClipCache(where)
    try:
        from storyboard.run.shared_store import SharedStore
    except ModuleNotFoundError as exc:
        if exc.name not in STORE_PACKAGES:
            raise
        raise CacheError(
            f"a clip cache at {where.scheme}:// needs s3fs: pip install 'storyboard[s3]'"
        ) from None
    return ClipCache(default_cache_dir(), shared=SharedStore(where))


@dataclass(frozen=True)
class CacheEntry:
    """A sound entry: its clip's bytes are the ones that were stored."""

    key: str
    clip: Path
    meta: dict[str, Any]

    @property
    def sha256(self) -> str:
        return str(self.meta["sha256"])


@dataclass(frozen=True)
class DamagedEntry:
    """An entry whose clip is not what was stored: a miss, with the reason and the
    metadata (its remote ids let the executor fetch the clip again, not pay again)."""

    key: str
    reason: str
    meta: dict[str, Any]


@contextlib.contextmanager
def _replacing(dest: Path, mode: str) -> Iterator[IO[Any]]:
    """A file that becomes `dest` atomically when the block ends (a temporary name of
    this writer's own beside it until then; removed if the block fails)."""
    with scratch.replacing(dest) as tmp, open(tmp, mode) as out:
        yield out


def copy_clip(source: Path, dest: Path) -> None:
    """Put a copy of `source` at `dest` atomically: a reflink where the file system
    shares extents, else a byte copy; never a hard link (a second name for the same
    bytes would let damage to one reach the other)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src, _replacing(dest, "wb") as out:
        try:
            if fcntl is None:
                raise OSError("no reflink here")
            fcntl.ioctl(out.fileno(), _FICLONE, src.fileno())
        except OSError:
            shutil.copyfileobj(src, out, _CHUNK)


class ClipCache:
    """One cache: its folder (`root`), and the store it mirrors if it is shared.
    `open_cache` makes one from a location; this constructor takes a folder."""

    def __init__(
        self,
        root: Path | None = None,
        source: str = "",
        variants: Mapping[str, str] | None = None,
        *,
        shared: SharedStore | None = None,
    ) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.shared = shared
        if source and (source.startswith(".") or not _SOURCE.fullmatch(source)):
            raise CacheError(f"not a cache source: {source!r}")
        self.source = source
        self.variants = dict(variants or {})
        for variant in self.variants.values():
            if not _VARIANT.fullmatch(variant):
                raise CacheError(f"not a cache variant: {variant!r}")

    def for_source(self, source: str, variants: Mapping[str, str] | None = None) -> ClipCache:
        """The same cache, seen by one backend: only its clips are hits. `variants`:
        what, beyond the request's key, each key's clip depends on there."""
        return ClipCache(self.root, source, variants, shared=self.shared)

    @property
    def location(self) -> str:
        """Where the cache is, to show a user or to give `open_cache` in another process:
        the store's URL, else the folder's absolute path (never a credential)."""
        if self.shared is not None:
            return self.shared.location
        return os.path.abspath(self.root)

    def entry_name(self, key: str) -> str:
        """The name of `key`'s entry on this shelf: the key, and its variant if any."""
        variant = self.variants.get(key, "")
        return f"{key}~{variant}" if variant else key

    def _folder(self, key: str) -> Path:
        if len(key) < 8 or not all(c in "0123456789abcdef" for c in key):
            raise CacheError(f"not a cache key: {key!r}")
        if not self.source:  # the root alone is no shelf: clips are only ever per backend
            raise CacheError("read or write the cache through for_source(<backend source>)")
        return self.root / "clips" / self.source / key[:2]

    def _base(self, key: str, take: int = 1) -> Path:
        if take < 1:
            raise CacheError(f"not a take number: {take}")
        return self._folder(key) / (self.entry_name(key) + take_suffix(take))

    def _entry(self, key: str, take: int) -> str:
        """Take `take` of `key` as the shared store names it: `clips/<source>/<kk>/<name>`."""
        return self._base(key, take).relative_to(self.root).as_posix()

    def takes(self, key: str) -> list[int]:
        """The take numbers this shelf has an entry for (sound or not), in order: in the
        folder, and in the shared store if there is one."""
        folder = self._folder(key)
        name = self.entry_name(key)
        stems = [meta.stem for meta in folder.glob(f"{name}*.json")]
        if self.shared is not None:
            stems += self.shared.names(folder.relative_to(self.root).as_posix())
        found = {n for n in (_take_number(stem, name) for stem in stems) if n is not None}
        return sorted(found)

    def lookup(self, key: str, take: int = 1) -> CacheEntry | DamagedEntry | None:
        """The entry for take `take` of `key`: sound, damaged (and why), or None. A
        shared cache's folder is asked first; on a miss there, the store is, and a
        sound clip from it is installed in the folder before it is returned."""
        found = self._lookup_here(key, take)
        if self.shared is None or isinstance(found, CacheEntry):
            return found
        mirrored = self._mirror(key, take)
        return found if mirrored is None else mirrored

    def _lookup_here(self, key: str, take: int) -> CacheEntry | DamagedEntry | None:
        """The entry in the folder alone."""
        base = self._base(key, take)
        clip, meta_path = base.with_suffix(".mp4"), base.with_suffix(".json")
        try:
            data = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            return DamagedEntry(key, f"its metadata cannot be read ({exc})", {})
        if not isinstance(data, dict):
            return DamagedEntry(key, "its metadata is not a record", {})
        expected = data.get("sha256")
        if not isinstance(expected, str):
            return DamagedEntry(key, "it carries no content hash", data)
        try:
            actual = file_sha256(clip)
        except FileNotFoundError:
            return DamagedEntry(key, "its clip is missing", data)
        except OSError as exc:
            return DamagedEntry(key, f"its clip cannot be read ({exc.strerror or exc})", data)
        if actual != expected:
            return DamagedEntry(key, "its clip's bytes changed since it was stored", data)
        return CacheEntry(key, clip, data)

    def get(self, key: str, take: int = 1) -> CacheEntry | None:
        entry = self.lookup(key, take)
        return entry if isinstance(entry, CacheEntry) else None

    def has(self, key: str, take: int = 1) -> bool:
        return self.get(key, take) is not None

    def put(self, key: str, clip: Path, meta: dict[str, Any], take: int = 1) -> CacheEntry:
        """Store a copy of `clip` as take `take` of `key`, with its metadata and
        content hash: in the folder, then in the shared store if there is one. The
        entry returned is the one every later lookup serves: the one another writer
        stored first, if one did (a shared cache then takes that writer's clip).

        The caller has verified the clip (it decodes, it is the right length).
        Raises CacheError when the cache folder or the store cannot be written; the
        folder's entry is kept when only the store failed."""
        entry = self._store(key, clip, meta, take)
        if self.shared is None:
            return entry
        there = self.shared.publish(self._entry(key, take), entry.clip, entry.meta)
        if there.get("sha256") == entry.sha256:
            return entry
        theirs = self._mirror(key, take, replace=True)
        if isinstance(theirs, CacheEntry):
            return theirs
        self.shared.replace(self._entry(key, take), entry.meta)  # theirs cannot be served
        return entry

    def _mirror(
        self, key: str, take: int, *, replace: bool = False
    ) -> CacheEntry | DamagedEntry | None:
        """The shared store's entry, downloaded, checked and installed in the folder (over
        the folder's own entry if `replace`); damaged (and why), or None."""
        assert self.shared is not None
        base = self._base(key, take)
        try:
            base.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(
                f"cannot mirror the clip cache {self.location} in {self.root}: "
                f"{exc.strerror or exc}"
            ) from exc
        download = scratch.tagged(
            base.with_suffix(".mp4"), "partial", f".{secrets.token_hex(4)}.mp4"
        )
        try:
            found = self.shared.fetch(self._entry(key, take), key, download)
            if not isinstance(found, dict):
                return found
            return self._store(key, download, found, take, replace=replace)
        finally:
            download.unlink(missing_ok=True)

    def _store(
        self, key: str, clip: Path, meta: dict[str, Any], take: int, *, replace: bool = False
    ) -> CacheEntry:
        """`put` in the folder alone; a sound entry there is kept unless `replace`."""
        base = self._base(key, take)
        try:
            base.parent.mkdir(parents=True, exist_ok=True)
            with self._locked(base):
                there = self._lookup_here(key, take)
                if isinstance(there, CacheEntry) and not replace:
                    return there  # another writer stored it first: the same request
                digest = file_sha256(clip)
                target = base.with_suffix(".mp4")
                copy_clip(clip, target)
                if file_sha256(target) != digest:
                    raise CacheError(f"{target}: the copy does not match {clip}")
                data = {
                    **meta,
                    "key": key,
                    "take": take,
                    "bytes": target.stat().st_size,
                    "sha256": digest,
                }
                _write_json(base.with_suffix(".json"), data)
        except OSError as exc:
            raise CacheError(
                f"cannot store the clip in the cache {self.root}: {exc.strerror or exc}"
            ) from exc
        return CacheEntry(key, target, data)

    @contextlib.contextmanager
    def _locked(self, base: Path) -> Iterator[None]:
        """One writer per entry at a time (a kernel lock: a killed writer releases it)."""
        with open(base.with_suffix(".lock"), "a", encoding="utf-8") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield


def _take_number(stem: str, name: str) -> int | None:
    """The take an entry's file stem is of (`<name>` 1, `<name>-t<k>` k), if it is one."""
    if not stem.startswith(name):
        return None
    rest = stem[len(name) :]
    if rest == "":
        return 1
    if rest.startswith("-t") and rest[2:].isdigit() and int(rest[2:]) > 1:
        return int(rest[2:])
    return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with _replacing(path, "w") as out:
        out.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
