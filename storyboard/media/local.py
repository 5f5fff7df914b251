"""The local file behind a payload's image or video reference: a path, a
`file://` URL, or Base64 data written once under a folder by its hash."""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

from storyboard import scratch
from storyboard.errors import MediaError


def local_media(url: str, inline_dir: Path) -> Path | None:
    """The local file behind a payload's image or video reference (R8, R13).

    A `file://` URL or an absolute path is that file; anything else that is
    not an http(s) URL is Base64 image data (bare, or a `data:` URI), written
    once under `inline_dir` by content hash. Base64 of a JPEG starts with
    `/9j/`, so the file test comes first and is guarded against names too long
    for the OS. Returns None for http(s) URLs: whether to refuse them (the
    preview) or serve them (the mock's own clip URLs) is the caller's call.
    Raises MediaError for a missing file or data that is not Base64.
    """
    parts = urlsplit(url[:4096])
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        if not path.is_file():
            raise MediaError(f"{path}: no such file")
        return path
    if not url.startswith("data:") and len(url) < 4096 and _is_local_file(url):
        return Path(url)
    encoded = url.split(",", 1)[1] if url.startswith("data:") else url
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        shown = url if len(url) < 120 else url[:60] + "..."
        raise MediaError(f"{shown}: neither a local file nor Base64 data") from exc
    suffix = ".png" if raw.startswith(b"\x89PNG") else ".jpg"
    path = inline_dir / (hashlib.sha256(raw).hexdigest()[:24] + suffix)
    if not path.is_file():
        inline_dir.mkdir(parents=True, exist_ok=True)
        scratch.atomic_write(path, raw)
    return path


def _is_local_file(text: str) -> bool:
    """An absolute path to an existing file? Base64 can look like a path, and a
    long one is a name the OS refuses (OSError): then it is not a file."""
    try:
        return Path(text).is_absolute() and Path(text).is_file()
    except OSError:
        return False
