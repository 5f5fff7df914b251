"""Callback tokens: what proves that a callback came from whoever was given its URL.

API.md leaves open how a callback is authenticated (R22), so the URL itself
is the credential: each task's callback URL ends in a token that only this
machine (or one sharing its secret) can compute,

    <callback base URL>/<external task id, percent-quoted>/<token>
    token = hex(HMAC-SHA256(secret, external task id as UTF-8))

so the receiver checks a callback without keeping any record of what it
handed out, a token is good for one task only, and a URL seen in one task's
answer opens no other. The secret is `$STORYBOARD_CALLBACK_SECRET` when set
(at least 16 characters; every machine that sends or receives for one render
needs the same), else a random key kept in `callback.key` under
`$XDG_CONFIG_HOME/storyboard/` (else `~/.config/storyboard/`), made once with
mode 0600 and refused when others can read it.

Neither the secret nor a token is ever formatted into a message, a log line or
a file of the build: `CallbackKey` shows as `CallbackKey(***)`, and errors name
the variable or the file, never their content.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from storyboard.errors import EnvironmentProblem

SECRET_ENV = "STORYBOARD_CALLBACK_SECRET"
KEY_FILE_NAME = "callback.key"
MIN_SECRET_CHARS = 16
TOKEN_CHARS = 64  # hex of a SHA-256
_KEY_BYTES = 32
_MAX_KEY_FILE = 4096


class CallbackKey:
    """The local secret, and the per-task tokens and URLs made from it."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise EnvironmentProblem(
                f"a callback secret needs at least {MIN_SECRET_CHARS} characters"
            )
        self._secret = secret

    def __repr__(self) -> str:
        return "CallbackKey(***)"

    def token(self, external_id: str) -> str:
        """The token of one task: hex HMAC-SHA256 of its external task id."""
        mac = hmac.new(self._secret, external_id.encode("utf-8"), hashlib.sha256)
        return mac.hexdigest()

    def verify(self, external_id: str, token: str) -> bool:
        """True if `token` is the task's token (compared in constant time)."""
        expected = self.token(external_id).encode("ascii")
        try:
            given = token.encode("ascii")
        except UnicodeEncodeError:
            given = b""
        return hmac.compare_digest(given, expected)

    def url(self, base_url: str, external_id: str) -> str:
        """The callback URL of one task under `base_url` (a receiver's address)."""
        return f"{base_url.rstrip('/')}/{quote(external_id, safe='')}/{self.token(external_id)}"


def key_file(env: Mapping[str, str] | None = None) -> Path:
    """Where the local callback key lives: `$XDG_CONFIG_HOME/storyboard/callback.key`,
    else `~/.config/storyboard/callback.key`."""
    environ = os.environ if env is None else env
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "storyboard" / KEY_FILE_NAME


def load_key(env: Mapping[str, str] | None = None) -> CallbackKey:
    """The callback key: `$STORYBOARD_CALLBACK_SECRET` if set, else the key file
    (made now, once, if there is none)."""
    environ = os.environ if env is None else env
    secret = environ.get(SECRET_ENV, "")
    if secret:
        if len(secret.strip()) < MIN_SECRET_CHARS:
            raise EnvironmentProblem(
                f"{SECRET_ENV} is too short: use at least {MIN_SECRET_CHARS} random "
                f"characters (or unset it to use the key file {key_file(environ)})"
            )
        return CallbackKey(secret.strip().encode("utf-8"))
    return CallbackKey(_read_or_make(key_file(environ)))


def _read_or_make(path: Path) -> bytes:
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    try:
        _make(path)
    except FileExistsError:  # another process made it first: theirs is the key
        pass
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot create the callback key {path} ({exc.strerror}); set {SECRET_ENV} instead"
        ) from exc
    try:
        return _read(path)
    except FileNotFoundError as exc:
        raise EnvironmentProblem(f"the callback key {path} vanished as it was made") from exc


def _read(path: Path) -> bytes:
    """The key in `path`: a regular file only its owner can read, of a sane size."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot read the callback key {path} ({exc.strerror}); set {SECRET_ENV} instead"
        ) from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise EnvironmentProblem(f"the callback key {path} is not a regular file")
        if info.st_mode & 0o077:
            raise EnvironmentProblem(
                f"the callback key {path} can be read by others: `chmod 600 {path}`, "
                "or remove it to make a new one (callback URLs already handed out stop working)"
            )
        data = handle.read(_MAX_KEY_FILE + 1).strip()
    if len(data) > _MAX_KEY_FILE or len(data) < MIN_SECRET_CHARS:
        raise EnvironmentProblem(
            f"the callback key {path} is not a key (empty, too short or too long); "
            "remove it to make a new one"
        )
    return data


def _make(path: Path) -> None:
    """Write a new random key to `path` with mode 0600, atomically: it appears whole
    or not at all, and never replaces one that another process made meanwhile."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_hex(_KEY_BYTES).encode("ascii") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)  # fails if the key exists: the first key made stays
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
