"""A callback receiver served in the test's event loop, handing notices to a recorder.

The receiver is the real one (`storyboard.run.callbacks.receiver`); only its sink
is the test's: a `NoticeSink` that keeps what it was handed, with the monotonic
time it came (the mock's thread stamps its records on the same clock).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from storyboard.run.callbacks import CallbackKey, Listen
from storyboard.run.callbacks.receiver import ReceiverServer, receiver_app

KEY = CallbackKey(b"test-callback-secret-0123456789abcdef")
PREFIX = "/hooks"


@dataclass
class Recorder:
    """A sink that knows every task (or only `known`, when given) and keeps each notice."""

    known: set[str] | None = None
    got: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)

    async def deliver(self, external_id: str, body: Mapping[str, Any]) -> bool:
        if self.known is not None and external_id not in self.known:
            return False
        self.got.append((external_id, dict(body), time.monotonic()))
        return True

    def statuses(self, external_id: str) -> list[str]:
        return [str(body.get("status")) for ext, body, _ in self.got if ext == external_id]


@contextlib.asynccontextmanager
async def serving(sink: Any, key: CallbackKey = KEY, **options: Any) -> AsyncIterator[str]:
    """The receiver on a free port of 127.0.0.1; yields its base URL (with PREFIX)."""
    server = ReceiverServer(
        receiver_app(key, sink, prefix=PREFIX, **options), Listen("127.0.0.1", 0)
    )
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.address.port}{PREFIX}"
    finally:
        await server.stop()
