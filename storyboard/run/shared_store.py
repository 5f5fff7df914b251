"""The shared copy of the clip cache, in an object store (`s3://bucket/prefix`).

What one machine renders, every machine pointed at the same URL reuses: a CI
runner with an empty disk is served the clips a colleague paid for. The
`ClipCache` keeps its local folder as a mirror in front of this store and asks
it only on a local miss; this module speaks to the store, through fsspec (s3fs,
with botocore's own chain for the endpoint, the credentials and the profile).

Layout under the prefix:

    blobs/<sha256[:2]>/<sha256>.mp4          a clip's bytes, named by their hash
    clips/<source>/<key[:2]>/<entry>.json    an entry: the local cache's metadata,
                                             whose `sha256` names its blob

Write-once. A blob is written with an exclusive create (S3's `If-None-Match: *`);
a conflict means the same bytes are there already. Its name fixes its content,
so a blob that is missing, of the wrong size or found damaged by this process
may be written again: only bytes that hash to the name are ever uploaded. The
entry goes last, also with an exclusive create, so a reader never finds an entry
whose blob was not written; a writer that loses the race is told the winner's
entry (and its cache takes that clip). An entry that cannot be used (unreadable,
or its blob damaged) may be replaced: nobody can be served from it.

Trust nothing in the store either: a download is hashed before it is used, and
an entry whose blob is missing or does not match is a damaged entry (a miss
that says why, with the metadata whose remote ids let the executor fetch the
clip again), never a clip.

s3fs's OSErrors and botocore's own errors become `CacheError` here, with the
store's URL and never a credential.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
import s3fs  # noqa: F401  (what fsspec opens for s3://; imported here so a missing one is named)
from botocore.exceptions import BotoCoreError, NoCredentialsError, PartialCredentialsError

from storyboard.digest import file_sha256
from storyboard.errors import CacheError
from storyboard.run.cache import DamagedEntry
from storyboard.run.location import StoreURL

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_NO_CREDENTIALS = (
    "no credentials for it (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
)


class SharedStore:
    """One store URL, seen through fsspec; shared by every shelf of one `ClipCache`."""

    def __init__(self, url: StoreURL) -> None:
        self.url = url
        # No listings cache: another machine's entries must show at once. No instance
        # cache: each store reads the environment (endpoint, keys) when it is opened.
        self._fs = fsspec.filesystem(url.scheme, use_listings_cache=False, skip_instance_cache=True)
        self._damaged: set[str] = set()  # blobs this process found not matching their name

    @property
    def location(self) -> str:
        return self.url.url

    def names(self, folder: str) -> list[str]:
        """The entry names (`<entry>`, `<entry>-t<k>`) in `folder` (`clips/<source>/<kk>`)."""
        with self._speaking("read"):
            try:
                found = self._fs.ls(self._path(folder), detail=False)
            except FileNotFoundError as exc:
                if not _absent(exc):
                    raise
                return []
        return [PurePosixPath(p).stem for p in found if p.endswith(".json")]

    def fetch(self, entry: str, key: str, dest: Path) -> dict[str, Any] | DamagedEntry | None:
        """The metadata of `entry` (`clips/…/<name>`), with its clip downloaded to `dest`
        and checked against its hash; damaged (and why), or None when there is none."""
        where = self.location
        with self._speaking("read"):
            try:
                raw = self._fs.cat_file(self._path(f"{entry}.json"))
            except FileNotFoundError as exc:
                if not _absent(exc):
                    raise
                return None
            meta = _record(raw)
            if meta is None:
                return DamagedEntry(key, f"its metadata in {where} cannot be read", {})
            sha = meta.get("sha256")
            if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
                return DamagedEntry(key, f"its entry in {where} carries no content hash", meta)
            try:
                self._fs.get_file(self._blob(sha), str(dest))
            except FileNotFoundError as exc:
                if not _absent(exc):
                    raise
                return DamagedEntry(key, f"its clip is missing from {where}", meta)
        if file_sha256(dest) != sha:
            self._damaged.add(sha)
            return DamagedEntry(key, f"its clip's bytes in {where} are not the ones stored", meta)
        return meta

    def publish(self, entry: str, clip: Path, meta: dict[str, Any]) -> dict[str, Any]:
        """Store `clip` (whose hash is `meta["sha256"]`) and then `entry`, unless another
        writer stored the entry first: the entry the store now holds (ours or theirs)."""
        sha = str(meta["sha256"])
        with self._speaking("write"):
            self._store_blob(sha, clip)
            path = self._path(f"{entry}.json")
            with contextlib.suppress(FileExistsError):  # else another writer's is there
                self._fs.pipe_file(path, _encoded(meta), mode="create")
                return meta
            there = _record(self._fs.cat_file(path))
            if there is not None and isinstance(there.get("sha256"), str):
                return there
            self._fs.pipe_file(path, _encoded(meta))  # unreadable: nobody can use it
        return meta

    def replace(self, entry: str, meta: dict[str, Any]) -> None:
        """Put `meta` in place of an entry found damaged (its blob does not match it);
        `meta`'s blob is in the store already (`publish`)."""
        with self._speaking("write"):
            self._fs.pipe_file(self._path(f"{entry}.json"), _encoded(meta))

    def _store_blob(self, sha: str, clip: Path) -> None:
        blob = self._blob(sha)
        mode = "create"
        if sha in self._damaged:
            mode = "overwrite"
        else:
            try:
                size = self._fs.info(blob).get("size")
            except FileNotFoundError as exc:
                if not _absent(exc):
                    raise
            else:
                if size == clip.stat().st_size:
                    return  # there already: its name fixes its bytes
                mode = "overwrite"  # a partial or foreign object under this name
        with contextlib.suppress(FileExistsError):  # another writer stored these bytes first
            self._fs.put_file(str(clip), blob, mode=mode)
        self._damaged.discard(sha)

    def _path(self, relative: str) -> str:
        return f"{self.url.path}/{relative}"

    def _blob(self, sha: str) -> str:
        return self._path(f"blobs/{sha[:2]}/{sha}.mp4")

    @contextlib.contextmanager
    def _speaking(self, doing: str) -> Iterator[None]:
        """The store's failures as CacheError: what could not be done, where, and why."""
        try:
            yield
        except (OSError, BotoCoreError) as exc:
            raise CacheError(
                f"cannot {doing} the clip cache {self.location}: {self._reason(exc)}"
            ) from None

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, FileNotFoundError) and _code(exc) == "NoSuchBucket":
            return f"the bucket {self.url.bucket} does not exist"
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return _NO_CREDENTIALS
        said = str(exc) or type(exc).__name__
        if isinstance(exc, PermissionError):
            said = f"access denied ({said})"
        return _scrubbed(said)


def _absent(exc: FileNotFoundError) -> bool:
    """The object is not there (a miss), as opposed to the bucket (a mistake)."""
    return _code(exc) != "NoSuchBucket"


def _code(exc: BaseException) -> str | None:
    """The S3 error code behind an error s3fs translated (`NoSuchKey`, `NoSuchBucket`)."""
    response = getattr(exc.__cause__, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return code if isinstance(code, str) else None


def _record(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _encoded(meta: dict[str, Any]) -> bytes:
    return (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _scrubbed(text: str) -> str:
    """`text` without the secret keys of the environment, were a library to repeat one."""
    for name in _SECRETS:
        secret = os.environ.get(name)
        if secret:
            text = text.replace(secret, "***")
    return text
