"""Where callbacks are sent (`--callback-url`) and where the receiver listens
(`--callback-listen`), checked once with messages that say what to change.

A callback URL is an http(s) URL without query or fragment; each task's URL
is it plus `/<external id>/<token>` (`tokens`). The receiver serves exactly
the URL's path, so a proxy or tunnel in front of it must pass the path on
unchanged. Without `--callback-listen`, a render listens where the URL points
when that is this machine's loopback over plain HTTP (`http://127.0.0.1:8766/cb`
listens on 127.0.0.1:8766); port 0 there means any free port, which the URL
then names. Anything else (a public host, https through a TLS proxy) needs the
listen address said, because only the user knows what forwards to where.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from storyboard.errors import UsageError


@dataclass(frozen=True)
class Listen:
    """A host and port to serve on."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and addresses of 127.0.0.0/8 or ::1, by their text (never
    resolved: a name that merely resolves to loopback today is not trusted)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_callback_url(url: str, what: str = "--callback-url") -> str:
    """`url` without a trailing slash, or a UsageError saying what is wrong with it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{what} must be an http:// or https:// URL with a host, not {url!r}")
    if parts.query or parts.fragment:
        raise UsageError(
            f"{what} must not carry a query or fragment: each task's URL is it plus "
            "/<external id>/<token>"
        )
    try:
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as exc:
        raise UsageError(f"{what} has a bad port: {url!r}") from exc
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def parse_listen(text: str, what: str = "--callback-listen") -> Listen:
    """`HOST:PORT` (`[::1]:PORT` for IPv6) as a Listen, or a UsageError."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"{what} must be HOST:PORT (e.g. 127.0.0.1:8766), not {text!r}")
    return Listen(host, int(port))


def default_listen(url: str) -> Listen:
    """Where a render listens for `url` when not told: the URL's own loopback address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http" or not is_loopback_host(host):
        raise UsageError(
            f"--callback-url {url} is not a plain-HTTP address of this machine's loopback: "
            "say where the receiver listens with --callback-listen HOST:PORT (the address "
            "your proxy or tunnel forwards that URL to)"
        )
    return Listen(host, 80 if parts.port is None else parts.port)


def with_port(url: str, port: int) -> str:
    """`url` with its port replaced (the receiver's real port, when asked for port 0)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def url_path(url: str) -> str:
    """The path a receiver serves for `url`: its path without the trailing slash."""
    return urlsplit(url).path.rstrip("/")
