"""The mock provider's faults: an ASGI middleware that counts every request and,
drawing from the seeded stream of the request's endpoint, spoils some answers on purpose (slow
or hanging, HTTP 429 with Retry-After, 5xx, a proxy's HTML page, a dropped
connection, a download cut in half). E1/E2/E3 are the API's own failures and
live with the task lifecycle in `storyboard.mock.server` and `clips`.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storyboard.mock.state import ENDPOINTS, FAULT_KINDS, PROFILE, MockState

log = logging.getLogger("storyboard.mock.server")
# Truncation spoils clips, malformed answers spoil JSON; the rest strike anywhere.
_FAULT_TARGETS = {"truncate": ("download",), "malformed": ("create", "status", "query")}


class _InjectedFault(Exception):
    """Raised to make uvicorn close the connection mid-answer (drop, truncate)."""


class QuietInjected(logging.Filter):
    """Keeps the faults we inject on purpose out of uvicorn's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _InjectedFault))


def _endpoint(scope: Scope) -> str:
    path, method = scope.get("path", ""), scope.get("method", "")
    if path.startswith("/_mock/"):
        return "control"
    if path.startswith("/files/"):
        return "download"
    if path.rstrip("/") == PROFILE.create_path:
        return "create" if method == "POST" else "query"
    if path.startswith(PROFILE.create_path + "/"):
        return "status"
    return "other"


class FaultInjector:
    """ASGI middleware: counts every request, then maybe spoils its answer."""

    def __init__(self, app: ASGIApp, state: MockState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = _endpoint(scope)
        state = self.state
        if kind != "control":
            state.counts[kind] += 1
            state.counts["total"] += 1
        fault = self._draw(kind)
        if fault is None:
            await self.app(scope, receive, send)
            return
        state.counts[f"fault_{fault}"] += 1
        log.debug("injecting %s into %s %s", fault, scope["method"], scope["path"])
        config = state.config
        if fault in ("slow", "hang"):
            await asyncio.sleep(config.slow_seconds if fault == "slow" else config.hang_seconds)
            await self.app(scope, receive, send)
        elif fault == "http_429":
            body = {"error": {"code": "429", "error_message": "too many requests"}}
            headers = {"Retry-After": f"{config.retry_after:g}"}
            await JSONResponse(body, 429, headers=headers)(scope, receive, send)
        elif fault == "http_5xx":
            body = {"error": {"code": "503", "error_message": "service unavailable"}}
            await JSONResponse(body, 503)(scope, receive, send)
        elif fault == "malformed":
            page = "<html><body>502 Bad Gateway</body></html>"
            await Response(page, 200, media_type="text/html")(scope, receive, send)
        elif fault == "drop":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"200"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"task_id": "', "more_body": True})
            raise _InjectedFault("connection dropped on purpose")
        else:  # truncate
            await self.app(scope, receive, _truncating(send))

    def _draw(self, kind: str) -> str | None:
        state, config = self.state, self.state.config
        if kind not in config.fault_endpoints:
            return None
        if config.fault_limit is not None and state.faults_injected >= config.fault_limit:
            return None
        for fault in FAULT_KINDS:
            if kind not in _FAULT_TARGETS.get(fault, ENDPOINTS):
                continue
            rate = getattr(config, f"{fault}_rate")
            if rate and state.draw(kind) < rate:
                state.faults_injected += 1
                return fault
        return None


def _truncating(send: Send) -> Send:
    """A `send` that lets half of the announced body through, then breaks the connection."""
    allowed = 0

    async def wrapped(message: Message) -> None:
        nonlocal allowed
        if message["type"] == "http.response.start":
            headers = dict(message.get("headers", []))
            allowed = int(headers.get(b"content-length", b"0")) // 2
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            if len(body) >= allowed:
                await send({**message, "body": body[:allowed], "more_body": True})
                raise _InjectedFault("download truncated on purpose")
            allowed -= len(body)
        await send(message)

    return wrapped
