"""The hand-off between the receiver of a task's callbacks and whoever waits for the task.

Two small interfaces. A `NoticeSink` is anything the receiver can hand a
verified callback to (`deliver`). A `CallbackHub` is a sink that also makes
the callback URLs (`url_for`) and lets a waiter sleep until a notice comes
(`wait_notice`): the kirin backend asks one for each task's URL at `submit`
and sleeps on it in `wait`. A notice is only a wake-up: the backend then asks
the provider for the status, so what a body says is never believed, and a
forged, stale, duplicated or reordered notice costs at most one status query.

`LocalHub` is the hub of one render process: notices wait in memory, and the
receiver (`receiver.ReceiverServer`) runs in the render's own event loop when
`listen` is given. Another hub (a workflow engine's messages keyed by
workflow id) implements the same four methods; nothing else needs to change.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self
from urllib.parse import urlsplit

from storyboard.errors import UsageError
from storyboard.run.callbacks.address import (
    Listen,
    check_callback_url,
    default_listen,
    parse_listen,
    url_path,
    with_port,
)
from storyboard.run.callbacks.tokens import CallbackKey, load_key

if TYPE_CHECKING:
    from storyboard.run.callbacks.receiver import ReceiverServer


class NoticeSink(Protocol):
    """Where a receiver hands a callback whose token it has verified."""

    async def deliver(self, external_id: str, body: Mapping[str, Any]) -> bool:
        """Hand on a notice for the task `external_id`; `body` is what the provider sent
        (a JSON object, else empty), unverified. False if this sink knows no such task
        (the receiver then answers 404 and nothing changed); raises
        `CallbackUndeliverable` if the place it hands on to cannot be reached."""
        ...


class CallbackHub(abc.ABC):
    """Makes callback URLs, receives their notices, wakes whoever waits for a task.

    Use as `async with hub:` (a kirin backend given a hub opens and closes it with
    itself). One waiter per task at a time.
    """

    @abc.abstractmethod
    def url_for(self, external_id: str) -> str:
        """The callback URL for the task `external_id` (R22); from now on the hub knows
        the task, and keeps its notices until `wait_notice` takes them."""

    @abc.abstractmethod
    async def wait_notice(self, external_id: str, timeout: float) -> dict[str, Any] | None:
        """The body of a notice for `external_id` that came since the last call returned
        (or since `url_for`), waiting at most `timeout` seconds for one; None if none
        came. Notices that came while nobody waited are kept, several as one (the
        latest body): a wake-up is never lost, and a burst wakes the waiter once.
        Waiting also makes the task known (a task found again after a crash)."""

    @abc.abstractmethod
    async def deliver(self, external_id: str, body: Mapping[str, Any]) -> bool:
        """The receiver's side (`NoticeSink.deliver`): False for a task the hub does not
        know, which changes nothing."""

    async def open(self) -> None:  # noqa: B027 (optional hook: a hub may need nothing)
        """Start what receives notices (a server); called once before `url_for`."""

    async def aclose(self) -> None:  # noqa: B027 (optional hook: a hub may hold nothing)
        """Stop receiving; waiting tasks get no more notices."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@dataclass
class _Mailbox:
    """One task's notices: the latest body not taken yet, and the waiter's alarm."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    body: dict[str, Any] | None = None


class LocalHub(CallbackHub):
    """The hub of one process: URLs under `base_url`, notices in memory.

    With `listen`, `open` serves the receiver there (in the running event loop,
    on `base_url`'s path); without it, something else must call `deliver` (a
    test, or a receiver the caller runs). If `base_url` asks for port 0 on
    loopback, the receiver's real port goes into the URLs.
    """

    def __init__(self, key: CallbackKey, base_url: str, *, listen: Listen | None = None) -> None:
        self._key = key
        self._base = check_callback_url(base_url)
        if urlsplit(self._base).port == 0 and (listen is None or listen.port != 0):
            raise UsageError(
                "a callback URL with port 0 (any free port) needs the receiver to listen on "
                "port 0 too: leave out --callback-listen, or name a real port in the URL"
            )
        self._listen = listen
        self._boxes: dict[str, _Mailbox] = {}
        self._server: ReceiverServer | None = None

    @classmethod
    def for_render(cls, callback_url: str, listen: str | None = None) -> LocalHub:
        """The hub of `render --callback-url URL [--callback-listen HOST:PORT]`, with the
        key of this machine (`tokens.load_key`); UsageError for a URL or address that
        cannot work, EnvironmentProblem for a key that cannot be had."""
        url = check_callback_url(callback_url)
        where = parse_listen(listen) if listen else default_listen(url)
        return cls(load_key(), url, listen=where)

    def __repr__(self) -> str:
        return f"LocalHub({self._base!r}, listen={self._listen})"

    @property
    def base_url(self) -> str:
        """Where the task URLs start (the real port once open)."""
        return self._base

    @property
    def listen_address(self) -> Listen | None:
        """Where the receiver serves (its real port once open); None without `listen`."""
        return self._server.address if self._server is not None else self._listen

    async def open(self) -> None:
        if self._server is not None or self._listen is None:
            return
        from storyboard.run.callbacks.receiver import ReceiverServer, receiver_app

        app = receiver_app(self._key, self, prefix=url_path(self._base))
        server = ReceiverServer(app, self._listen)
        await server.start()
        self._server = server
        if urlsplit(self._base).port == 0:
            self._base = with_port(self._base, server.address.port)

    async def aclose(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    def url_for(self, external_id: str) -> str:
        if self._listen is not None and self._server is None:
            raise RuntimeError("LocalHub.url_for before open(): its receiver is not serving")
        self._boxes.setdefault(external_id, _Mailbox())
        return self._key.url(self._base, external_id)

    async def wait_notice(self, external_id: str, timeout: float) -> dict[str, Any] | None:
        box = self._boxes.setdefault(external_id, _Mailbox())
        if box.body is None:
            try:
                async with asyncio.timeout(max(0.0, timeout)):
                    await box.arrived.wait()
            except TimeoutError:
                return None
        body, box.body = box.body, None
        box.arrived.clear()
        return body

    async def deliver(self, external_id: str, body: Mapping[str, Any]) -> bool:
        box = self._boxes.get(external_id)
        if box is None:
            return False
        box.body = dict(body)
        box.arrived.set()
        return True
