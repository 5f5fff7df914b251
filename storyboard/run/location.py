"""Where the clip cache is: a folder on this machine, or a store URL many machines share.

`--cache` and `$STORYBOARD_CACHE` take a path (`~/clips`, `build-cache`), a
`file://` URL (`file:///srv/clips`, the same folder), or `s3://BUCKET/PREFIX` (any
S3-compatible store; its endpoint and credentials come from botocore's usual
chain: `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
`AWS_PROFILE`, ...). A URL never carries credentials: one that holds a user or a
query is refused without being repeated, so no secret reaches a message or a log.

Pure: parsing touches no file and no network (`cache.open_cache` opens what it names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from storyboard.errors import CacheError

STORE_SCHEMES = ("s3",)
FORMS = "a folder, file:///FOLDER or s3://BUCKET/PREFIX"
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SEGMENT = re.compile(r"[^\x00-\x1f\x7f\\]+")


@dataclass(frozen=True)
class StoreURL:
    """A shared cache in an object store: `scheme://bucket/prefix`, nothing else."""

    scheme: str
    bucket: str
    prefix: str  # "" or "a/b", no slash at either end

    @property
    def url(self) -> str:
        """The URL to show and to hand to another process (normalised, no credentials)."""
        return f"{self.scheme}://{self.path}"

    @property
    def path(self) -> str:
        """The store's root as fsspec names it: `bucket/prefix`."""
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket


def parse_location(text: str) -> Path | StoreURL:
    """The folder or the store that `text` names; CacheError for anything else."""
    if not text:
        raise CacheError(f"the clip cache location is empty: give {FORMS}")
    match = _SCHEME.match(text)
    if match is None:
        return Path(text)
    scheme = match["scheme"].lower()
    if scheme == "file":
        return _file_url(text)
    if scheme not in STORE_SCHEMES:
        raise CacheError(f"the clip cache cannot be at {scheme}://…: give {FORMS}")
    return _store_url(scheme, text)


def _file_url(text: str) -> Path:
    parts = urlsplit(text)
    if parts.netloc not in ("", "localhost"):
        raise CacheError(
            "a file:// clip cache is a folder on this machine: file:///FOLDER, "
            "not file://HOST/FOLDER"
        )
    if parts.query or parts.fragment or not parts.path:
        raise CacheError(f"not a clip cache folder: give {FORMS}")
    return Path(unquote(parts.path))


def _store_url(scheme: str, text: str) -> StoreURL:
    parts = urlsplit(text)
    if "@" in parts.netloc or parts.query or parts.fragment:
        # Not repeated: what is after `@` or `?` may be a key or a signature.
        raise CacheError(
            f"a {scheme}:// clip cache URL is {scheme}://BUCKET/PREFIX, without a user, a "
            "query or a fragment: credentials come from AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY or AWS_PROFILE, the endpoint from AWS_ENDPOINT_URL"
        )
    bucket = parts.netloc
    if not bucket:
        raise CacheError(f"the clip cache {scheme}://… names no bucket: {scheme}://BUCKET/PREFIX")
    if not _BUCKET.fullmatch(bucket):
        raise CacheError(f"not a bucket name: {bucket!r} (in the clip cache {scheme}:// URL)")
    segments = [s for s in unquote(parts.path).split("/") if s]
    for segment in segments:
        if segment in (".", "..") or not _SEGMENT.fullmatch(segment):
            raise CacheError(f"not a clip cache prefix: {segment!r} in {scheme}://{bucket}/…")
    return StoreURL(scheme, bucket, "/".join(segments))
