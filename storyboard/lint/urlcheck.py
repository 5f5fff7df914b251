"""The one place lint talks HTTP: what `--check-urls` fetches, and what it refuses.

Lint runs on strangers' pull requests in CI, so a storyboard's URL must not
turn the runner against its own network (cloud metadata at 169.254.169.254,
an admin page on 10.0.0.5) nor hang it. A URL is therefore checked in four
steps, each bounded:

1. **Scheme**: http and https only, for the URL and for every redirect.
2. **Address**: the host is resolved here (`socket.getaddrinfo` in a daemon
   thread), and *every* address it resolves to is classified (`refusal`):
   link-local (metadata), multicast, unspecified and reserved addresses are
   refused always; loopback, private and shared (CGNAT) ones unless
   `allow_private` (`--allow-private-urls`, for intranet assets). IPv4 inside
   IPv6 (`::ffff:10.0.0.5`, NAT64 `64:ff9b::a00:5`) is judged as the IPv4.
3. **Connection to the checked address**: the request goes to the IP itself,
   never to the name, so a DNS answer that changes between check and connect
   (rebinding) cannot slip through. The name travels where HTTP needs it:
   the `Host` header, and for https httpx's public `sni_hostname` request
   extension, which httpcore hands to `ssl` as `server_hostname`: the TLS
   handshake sends the name as SNI and the certificate is verified against
   the name, not the IP. `trust_env=False` keeps environment proxies (which
   would resolve the name themselves) and netrc out of it. Redirects are
   followed here, not by httpx, so that steps 1-3 run again for every hop,
   at most `MAX_REDIRECTS` hops.
4. **Reading**: the body is streamed raw (no decompression) and at most
   `URL_SNIFF_BYTES` are read, whatever the server sends or declares: a
   server that ignores `Range` costs one sniff, not its whole body. The size
   comes from `Content-Range` (or `Content-Length` of a full answer).

The whole check of one URL, redirects included, runs under one deadline
(`asyncio.timeout`), so a server that drips a byte at a time ends as "no
answer within 10 s" instead of resetting a per-read timeout forever.

Everything that goes wrong is a `URLCheckError` whose message is the
problem lint reports at the URL's line.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Final

import httpx

from storyboard.bounds import MAX_REDIRECTS, URL_DEADLINE_SECONDS, URL_SNIFF_BYTES
from storyboard.errors import URLCheckError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES: Final = {"http": 80, "https": 443}
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
PRIVATE_HINT: Final = " (use --allow-private-urls for intranet assets)"
_SHARED: Final = ipaddress.IPv4Network("100.64.0.0/10")  # CGNAT; not `is_private` in Python
_NAT64: Final = ipaddress.IPv6Network(
    "64:ff9b::/96"
)  # well-known prefix: the IPv4 is the low 32 bits
_MAX_SIZE_DIGITS: Final = 20  # a size header longer than this is not a size


@dataclass(frozen=True)
class Answer:
    """What a URL answered, once redirects are followed."""

    url: str  # where the answer came from, the last redirect's target
    status: int
    content_type: str
    first_bytes: bytes  # the start of the body, at most URL_SNIFF_BYTES
    total_bytes: int | None  # the whole body's size, if the server declared it


def refusal(address: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why lint may not connect to `address`; None if it may."""
    ip = _embedded_ipv4(address)
    shown = str(address) if ip == address else f"{address} ({ip})"
    if ip.is_unspecified:
        return f"{shown} is an unspecified address"
    if ip.is_link_local:
        return f"{shown} is a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return f"{shown} is a multicast address"
    if ip.is_loopback:  # before reserved: ::1 lies in the reserved ::/8
        return None if allow_private else f"{shown} is a loopback address{PRIVATE_HINT}"
    if ip.is_reserved:
        return f"{shown} is a reserved address"
    if ip.is_private or ip in _SHARED:
        return None if allow_private else f"{shown} is a private address{PRIVATE_HINT}"
    if not ip.is_global:
        return f"{shown} is not a public address"
    return None


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped or NAT64), else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def check_url(
    url: str,
    *,
    allow_private: bool = False,
    deadline: float = URL_DEADLINE_SECONDS,
    verify: ssl.SSLContext | bool = True,
) -> Answer:
    """Fetch the first bytes of `url`, refusing what the module docstring refuses.

    Raises URLCheckError, whose message is the problem to report."""
    return asyncio.run(_within_deadline(url, allow_private, deadline, verify))


async def _within_deadline(
    url: str, allow_private: bool, deadline: float, verify: ssl.SSLContext | bool
) -> Answer:
    try:
        async with asyncio.timeout(deadline):
            return await _follow(url, allow_private, deadline, verify)
    except (TimeoutError, httpx.TimeoutException):
        raise URLCheckError(f"no answer within {deadline:g} s") from None


async def _follow(
    url: str, allow_private: bool, deadline: float, verify: ssl.SSLContext | bool
) -> Answer:
    current = _parse(url)
    async with httpx.AsyncClient(
        trust_env=False, verify=verify, timeout=deadline, follow_redirects=False
    ) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            answer = await _fetch(client, current, allow_private)
            if isinstance(answer, Answer):
                return answer
            current = answer
    raise URLCheckError(f"redirected more than {MAX_REDIRECTS} times")


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise URLCheckError(f"is not a valid URL ({exc})") from None
    if parsed.scheme not in SCHEMES:
        scheme = parsed.scheme or "no scheme"
        raise URLCheckError(f"refused: {scheme} is not http or https ({parsed})")
    if not parsed.raw_host:
        raise URLCheckError(f"refused: {parsed} names no host")
    return parsed


async def _fetch(
    client: httpx.AsyncClient, url: httpx.URL, allow_private: bool
) -> Answer | httpx.URL:
    """One hop: the answer, or the URL it redirects to (already parsed and checked)."""
    host = url.raw_host.decode("ascii")
    addresses = await _resolve(host, url.port or SCHEMES[url.scheme])
    for address in addresses:
        why = refusal(address, allow_private=allow_private)
        if why is not None:
            raise URLCheckError(f"refused: {why}")
    failure = ""
    for address in addresses:
        try:
            return await _ask(client, url, address)
        except httpx.ConnectError as exc:
            failure = f"could not connect to {address} ({str(exc) or type(exc).__name__})"
        except httpx.TimeoutException:
            raise  # the deadline's, reported as such by _within_deadline
        except httpx.HTTPError as exc:
            raise URLCheckError(f"could not be fetched ({type(exc).__name__})") from None
    raise URLCheckError(failure)


async def _ask(client: httpx.AsyncClient, url: httpx.URL, address: IPAddress) -> Answer | httpx.URL:
    """GET `url` from `address` (the checked one), reading at most URL_SNIFF_BYTES."""
    headers = {
        "Host": url.netloc.decode("ascii"),
        "Range": f"bytes=0-{URL_SNIFF_BYTES - 1}",
        "Accept-Encoding": "identity",
    }
    extensions = {}
    if url.scheme == "https" and not _is_ip(url.raw_host.decode("ascii")):
        extensions["sni_hostname"] = url.raw_host.decode("ascii")
    pinned = url.copy_with(host=str(address))
    async with client.stream("GET", pinned, headers=headers, extensions=extensions) as response:
        location = response.headers.get("location")
        if response.status_code in REDIRECT_STATUSES and location:
            try:
                return _parse(url.join(location))
            except httpx.InvalidURL as exc:
                raise URLCheckError(f"redirected to an invalid URL ({exc})") from None
        content_type = response.headers.get("content-type", "")
        first = b"" if response.status_code >= 300 else await _first_bytes(response)
        return Answer(str(url), response.status_code, content_type, first, _total(response))


async def _first_bytes(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    left = URL_SNIFF_BYTES
    async for chunk in response.aiter_raw():
        chunks.append(chunk[:left])
        left -= len(chunks[-1])
        if left <= 0:
            break
    return b"".join(chunks)


def _total(response: httpx.Response) -> int | None:
    """The whole body's size: Content-Range's total, or a full answer's Content-Length."""
    total = response.headers.get("content-range", "").rpartition("/")[2].strip()
    if response.status_code != 206 or not total.isdigit():
        total = response.headers.get("content-length", "") if response.status_code == 200 else ""
    if total.isdigit() and len(total) <= _MAX_SIZE_DIGITS:
        return int(total)
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order.

    getaddrinfo blocks, so it runs in a daemon thread of its own: when the
    deadline cancels the wait, nothing (not asyncio.run's executor shutdown,
    not interpreter exit) waits for a resolver that hangs."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[IPAddress]] = loop.create_future()

    def settle(result: list[IPAddress] | None, error: OSError | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result or [])

    def work() -> None:
        result: list[IPAddress] | None = None
        error: OSError | None = None
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            result = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        except OSError as exc:
            error = exc
        except ValueError as exc:  # an answer that is not an address
            error = OSError(str(exc))
        with contextlib.suppress(RuntimeError):  # the loop closed: the deadline answered
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name=f"resolve {host}", daemon=True).start()
    try:
        addresses = await future
    except OSError as exc:
        raise URLCheckError(f"could not resolve {host} ({exc.strerror or exc})") from None
    if not addresses:
        raise URLCheckError(f"could not resolve {host}")
    return addresses
