"""The provider API key: read from the environment, sent only to the provider's
origin, scrubbed from every log record. It never appears in a message, a file
or a child process's environment (media.run_child drops it)."""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Mapping

import httpx

from storyboard.errors import EnvironmentProblem

API_KEY_ENV = "KIRIN_API_KEY"


class SecretRedactor(logging.Filter):
    """Replaces every registered secret in a log record's text by `***`.

    Defence in depth: nothing in this module logs a header, but httpx and
    httpcore log at DEBUG and a future change might slip. Installed on the
    loggers that can see requests; records are rewritten, never dropped.
    """

    LOGGERS = (
        "storyboard",
        "httpx",
        "httpcore",
        "httpcore.connection",
        "httpcore.http11",
        "httpcore.http2",
        "httpcore.proxy",
    )

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True

    def install(self, secret: str) -> None:
        self.secrets.add(secret)
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)


REDACTOR = SecretRedactor()


def read_api_key(env: Mapping[str, str] | None = None) -> str:
    """The API key from `KIRIN_API_KEY`; an EnvironmentProblem (never showing it) if unusable."""
    key = (os.environ if env is None else env).get(API_KEY_ENV, "").strip()
    if not key:
        raise EnvironmentProblem(
            f"{API_KEY_ENV} is not set: the kirin backend needs your provider API key in "
            f"{API_KEY_ENV} (the preview backend needs none)"
        )
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise EnvironmentProblem(
            f"{API_KEY_ENV} contains spaces or non-printable characters; check how it was set"
        )
    return key


class BearerAuth(httpx.Auth):
    """T1: `Authorization: Bearer <key>`, only on requests to the provider's origin."""

    def __init__(self, key: str, base_url: str) -> None:
        self._key = key
        self._origin = httpx.URL(base_url).copy_with(path="/", query=None, fragment=None)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        url = request.url
        same = (url.scheme, url.host, url.port) == (
            self._origin.scheme,
            self._origin.host,
            self._origin.port,
        )
        if same:
            request.headers["Authorization"] = f"Bearer {self._key}"
        yield request

    def __repr__(self) -> str:
        return "<BearerAuth ***>"
