"""The callback receiver: an ASGI app that lets through only verified callbacks.

`CallbackReceiver` answers `POST <prefix>/<external id>/<token>` when the token
is the task's (`tokens.CallbackKey.verify`, in constant time), reads at most
`MAX_BODY_BYTES` of the body and hands it to a `NoticeSink`. Everything else
gets a bare 404 and changes nothing: another method, another path, a wrong
token, a task the sink does not know; a body over the bound gets 413 and is
not handed on. The body is handed on as the provider sent it (a JSON object,
else `{}`) and is never believed: it only wakes the waiter, who asks the
provider (`hub`).

`ReceiverServer` serves it inside a running event loop (a render's own, with
uvicorn's signal handling left out so that Ctrl-C and SIGTERM stay the
render's); `serve_receiver` serves it in the foreground (`storyboard
callback-server`). `ForwardSink` hands notices on to another receiver over
HTTP, re-addressed with the same key: a public receiver in front of renders
that listen on loopback. A standalone receiver has nobody waiting in its own
process, so without a sink that reaches the waiters (that forward, later a
workflow engine's messages) it could only answer 404: the CLI requires one.

Tokens never reach a log line: uvicorn's access log is off, and what is logged
names the external id only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from storyboard.errors import CallbackUndeliverable, EnvironmentProblem
from storyboard.run.callbacks.address import Listen, check_callback_url
from storyboard.run.callbacks.hub import NoticeSink
from storyboard.run.callbacks.tokens import TOKEN_CHARS, CallbackKey

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # a status document is a few hundred bytes; this is generous
FORWARD_TIMEOUT = 5.0  # seconds for a forwarded notice to be answered
START_TIMEOUT = 10.0  # seconds for the receiver to start serving


def _not_found() -> Response:
    return PlainTextResponse("not found", 404)


class CallbackReceiver:
    """ASGI app: verified callbacks to `sink`, 404 for anything else."""

    def __init__(
        self,
        key: CallbackKey,
        sink: NoticeSink,
        *,
        prefix: str = "",
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.key, self.sink, self.max_body = key, sink, max_body
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # served with lifespan off; nothing else is spoken
            return
        request = Request(scope, receive)
        response = await self._answer(request)
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        external_id = self._addressed(request)
        if external_id is None:
            return _not_found()
        body = await self._body(request)
        if body is None:
            log.info("callback for %s refused: body over %d bytes", external_id, self.max_body)
            return PlainTextResponse("body too large", 413)
        try:
            handed = await self.sink.deliver(external_id, body)
        except CallbackUndeliverable as exc:
            log.warning("callback for %s not handed on: %s", external_id, exc)
            return PlainTextResponse("not handed on; try again later", 503)
        if not handed:
            log.debug("callback for unknown task %s ignored", external_id)
            return _not_found()
        log.debug("callback for %s handed on", external_id)
        return JSONResponse({"received": True})

    def _addressed(self, request: Request) -> str | None:
        """The external id a POST to `<prefix>/<id>/<token>` with the right token is for."""
        if request.method != "POST":
            return None
        raw = request.scope.get("raw_path") or request.scope.get("path", "").encode()
        try:
            path = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
        if not path.startswith(self.prefix + "/"):
            return None
        parts = path[len(self.prefix) + 1 :].split("/")
        if len(parts) != 2 or not all(parts):
            return None
        quoted, token = parts
        try:
            external_id = unquote(quoted, errors="strict")
        except UnicodeDecodeError:
            return None
        return external_id if self.key.verify(external_id, token) else None

    async def _body(self, request: Request) -> dict[str, Any] | None:
        """The body as a JSON object (`{}` if it is none), or None if over the bound."""
        declared = request.headers.get("content-length", "")
        if declared and (not declared.isdigit() or int(declared) > self.max_body):
            return None
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > self.max_body:
                return None
        try:
            doc = json.loads(data) if data else {}
        except (ValueError, RecursionError):
            return {}
        return doc if isinstance(doc, dict) else {}


def receiver_app(
    key: CallbackKey, sink: NoticeSink, *, prefix: str = "", max_body: int = MAX_BODY_BYTES
) -> CallbackReceiver:
    """The receiver for callback URLs under `prefix`, handing notices to `sink`."""
    return CallbackReceiver(key, sink, prefix=prefix, max_body=max_body)


# --- serving ---------------------------------------------------------------------------


def bind_socket(listen: Listen) -> socket.socket:
    """A socket bound to `listen`, or an EnvironmentProblem that says why not."""
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listen.host, listen.port))
    except OSError as exc:
        sock.close()
        raise EnvironmentProblem(
            f"cannot listen for callbacks on {listen}: {exc.strerror or exc}"
        ) from exc
    return sock


def _config(app: CallbackReceiver, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app, lifespan="off", access_log=False, timeout_graceful_shutdown=1, **options
    )


class _InLoopServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process that hosts it keeps its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ReceiverServer:
    """The receiver served in the running event loop, from `start` to `stop`."""

    def __init__(self, app: CallbackReceiver, listen: Listen) -> None:
        self.app, self._listen = app, listen
        self._sock: socket.socket | None = None
        self._server: _InLoopServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> Listen:
        """Where it serves (the real port, once started)."""
        if self._sock is None:
            return self._listen
        return Listen(self._listen.host, self._sock.getsockname()[1])

    async def start(self) -> None:
        self._sock = bind_socket(self._listen)
        # log_config None: a render's logging stays as the render set it up.
        self._server = _InLoopServer(_config(self.app, log_config=None, log_level="warning"))
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        loop = asyncio.get_running_loop()
        give_up = loop.time() + START_TIMEOUT
        while not self._server.started:
            if self._task.done() or loop.time() > give_up:
                await self.stop()
                raise EnvironmentProblem(f"the callback receiver on {self._listen} did not start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        server, task, sock = self._server, self._task, self._sock
        self._server = self._task = self._sock = None
        if server is not None:
            server.should_exit = True
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=START_TIMEOUT)
        if sock is not None:
            sock.close()


async def serve_receiver(
    app: CallbackReceiver, sock: socket.socket, *, log_level: str = "info"
) -> None:
    """Serve the receiver on the bound `sock` until SIGINT or SIGTERM (`callback-server`,
    in the foreground: uvicorn stops gracefully, then the signal interrupts the caller
    as usual). The socket is closed at the end."""
    try:
        await uvicorn.Server(_config(app, log_level=log_level)).serve(sockets=[sock])
    finally:
        sock.close()


class TokenScrubber(logging.Filter):
    """Replaces what looks like a callback token at the end of a URL path by `***` in the
    records of the loggers that see request URLs (httpx logs each request it makes)."""

    LOGGERS = ("httpx", "httpcore")
    _TOKEN = re.compile(rf"/[0-9a-f]{{{TOKEN_CHARS}}}(?![0-9a-f])")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        clean = self._TOKEN.sub("/***", message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True

    def install(self) -> None:
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, TokenScrubber) for f in logger.filters):
                logger.addFilter(self)


class ForwardSink:
    """Hands each verified notice on to the receiver at `target_url` (a render's own),
    addressed with the same key, so the target checks it as it would the provider's.

    A 404 from the target (it waits for no such task) is "not handed on"; no answer,
    or any other error, raises `CallbackUndeliverable` (the provider is told 503, and
    may try again; if it does not, the render's fallback poll still finds the status).
    """

    def __init__(
        self,
        key: CallbackKey,
        target_url: str,
        *,
        timeout: float = FORWARD_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._key = key
        self.target = check_callback_url(target_url, "--forward")
        TokenScrubber().install()  # the URLs it posts to carry tokens
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"ForwardSink({self.target!r})"

    async def deliver(self, external_id: str, body: Mapping[str, Any]) -> bool:
        url = self._key.url(self.target, external_id)
        try:
            response = await self._client.post(url, json=dict(body))
        except httpx.HTTPError as exc:
            raise CallbackUndeliverable(
                f"forward to {self.target} failed ({type(exc).__name__})"
            ) from None
        if response.status_code == httpx.codes.NOT_FOUND:
            return False
        if not response.is_success:
            raise CallbackUndeliverable(
                f"forward to {self.target} answered HTTP {response.status_code}"
            )
        return True

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
