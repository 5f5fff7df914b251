"""The `kirin` backend: the real kirin_v3_omni_video API over httpx (async).

This is the one place that talks HTTP to the provider. Everything httpx can
raise is translated here into `storyboard.errors` (STYLE 5), and every
answer is read through the provider profile, so a gateway with other paths,
status names or field layout needs a profile file, not code.

The API key (T1) is read from `KIRIN_API_KEY` and lives only inside the
auth object that adds the header to requests for the provider's own origin:
it is never sent to another host (output URLs usually point at a CDN), never
formatted into an exception or a log line, and a logging filter scrubs it
from the records of storyboard, httpx and httpcore should anything try.

Given a `CallbackHub` (`storyboard.run.callbacks`), `submit` sends each task's
callback URL (R22, in the profile's `callback_field`) and `wait` sleeps on the
hub: a notice makes it ask for the status at once, and without one it asks
only every `callback_poll` seconds, the fallback for notices that never come.
What a notice says is never read: the status query is the truth. Each callback
URL carries its task's token, so it is scrubbed like the key from log records,
error messages and the status documents kept in the run record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import httpx

from storyboard import __version__, media, scratch
from storyboard.errors import (
    ConnectionLost,
    DownloadError,
    EnvironmentProblem,
    MalformedResponse,
    ProbeError,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ResourceInsufficient,
    ServerError,
    TaskCreationError,
    TaskNotFound,
    TransientProviderError,
)
from storyboard.provider.profile import PollPlanner, ProviderProfile, extract, load_profile
from storyboard.run.backends import answers
from storyboard.run.backends.apikey import API_KEY_ENV, REDACTOR, BearerAuth, read_api_key
from storyboard.run.backends.base import Backend, Outcome, RemoteTask, StatusCallback

if TYPE_CHECKING:
    from storyboard.run.callbacks.hub import CallbackHub

log = logging.getLogger(__name__)

_POLL_TOLERATED = (ServerError, ProviderTimeout, ConnectionLost, MalformedResponse, RateLimited)


def is_loopback(url: str) -> bool:
    """True for a provider on this machine (the mock): it can read local files."""
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def provider_source(profile: ProviderProfile) -> str:
    """The cache partition of a provider: the profile's `cache_source`, else the
    base URL's host, port and path. A mock on loopback and the real gateway never
    share clips."""
    parts = urlsplit(profile.url("/"))
    where = profile.cache_source or (
        f"{parts.hostname or ''}{f'_{parts.port}' if parts.port else ''}{parts.path}"
    )
    return "kirin-" + (re.sub(r"[^A-Za-z0-9.-]+", "_", where).strip("_.") or "default")


# --- the backend --------------------------------------------------------------------


class KirinBackend(Backend):
    """The kirin API: create (T2), status (S1-S5), lookup by external id (T3), download."""

    name = "kirin"
    spends_money = True

    def __init__(
        self,
        profile: ProviderProfile | None = None,
        *,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        callbacks: CallbackHub | None = None,
    ) -> None:
        """`api_key` defaults to `$KIRIN_API_KEY`; `transport` lets tests swap the wire;
        `callbacks` turns provider callbacks on (the backend opens and closes the hub
        with itself)."""
        self.profile = profile if profile is not None else load_profile()
        base = self.profile.url("/")  # raises EnvironmentProblem without a base URL
        if callbacks is not None and not self.profile.callback_field:
            raise EnvironmentProblem(
                "callbacks asked for, but the provider profile's callback_field is empty: "
                "name the request field that carries the callback URL (R22)"
            )
        self.callbacks = callbacks
        self.reads_local_files = is_loopback(base)  # the mock, on this machine
        self.source = provider_source(self.profile)
        self._polls = PollPlanner(self.profile)
        key = read_api_key({API_KEY_ENV: api_key}) if api_key is not None else read_api_key()
        REDACTOR.install(key)
        self._client = httpx.AsyncClient(
            auth=BearerAuth(key, base),
            timeout=httpx.Timeout(
                self.profile.request_timeout, connect=self.profile.connect_timeout
            ),
            headers={"Accept": "application/json", "User-Agent": f"storyboard/{__version__}"},
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"KirinBackend(base_url={self.profile.base_url!r})"

    async def __aenter__(self) -> Self:
        if self.callbacks is not None:
            await self.callbacks.open()
        return self

    async def aclose(self) -> None:
        try:
            await self._client.aclose()
        finally:
            if self.callbacks is not None:
                await self.callbacks.aclose()

    # -- the steps ----------------------------------------------------------------

    async def submit(
        self, payload: Mapping[str, Any], external_task_id: str, *, label: str = ""
    ) -> RemoteTask:
        body = {**payload, "external_task_id": external_task_id}
        if self.callbacks is not None:
            callback_url = self.callbacks.url_for(external_task_id)
            REDACTOR.install(callback_url)  # it carries the task's token: never in a message
            REDACTOR.install(callback_url.rsplit("/", 1)[-1])
            body[self.profile.callback_field] = callback_url
        try:
            url = self.profile.url(self.profile.create_path)
            doc = await self._call("create", "POST", url, body)
        except (ResourceInsufficient, RateLimited):
            raise  # refused for capacity: certainly not created, and lookups add load
        except (TransientProviderError, TaskCreationError) as exc:
            # The task may exist anyway (the answer was lost, or this id was
            # sent before a crash): use it rather than paying twice.
            existing = await self._find_quietly(external_task_id)
            if existing is None:
                raise
            log.info("create %s failed (%s) but the task exists: %s", label, exc, existing.task_id)
            return existing
        task_id = extract(doc, self.profile.task_id_field)
        status = extract(doc, self.profile.status_field)
        if isinstance(status, str) and status in self.profile.failed_statuses:
            answers.raise_failure(self.profile, str(task_id or external_task_id), doc)
        if not isinstance(task_id, str | int) or isinstance(task_id, bool) or task_id == "":
            raise MalformedResponse(
                f"create: answer has no task id at {self.profile.task_id_field!r}"
            )
        first = self.profile.in_progress_statuses[0] if self.profile.in_progress_statuses else ""
        remote = RemoteTask(
            self.name,
            str(task_id),
            external_task_id,
            status if isinstance(status, str) else first,
            seconds=_seconds(payload),
            mode=_mode(payload),
        )
        answers.check_answer(self.profile, "create", doc, remote)
        log.info("submitted %s as task %s (%s)", label or external_task_id, remote.task_id, status)
        self._polls.sent(remote.task_id, asyncio.get_running_loop().time(), _seconds(payload))
        return remote

    async def find(self, external_task_id: str) -> RemoteTask | None:
        url = self.profile.url(self.profile.query_path)
        params = {self.profile.query_param: external_task_id}
        try:
            doc = await self._call("query", "GET", url, params=params)
        except TaskNotFound:
            return None
        if isinstance(doc, list):  # some gateways answer a list of matches: ours, if named
            field = self.profile.external_id_field
            ours = (d for d in doc if field and extract(d, field) == external_task_id)
            doc = next(ours, doc[0] if doc else None)
        task_id = extract(doc, self.profile.task_id_field)
        if doc is None or task_id in (None, ""):
            return None
        status = extract(doc, self.profile.status_field)
        remote = RemoteTask(self.name, str(task_id), external_task_id, str(status or ""))
        answers.check_answer(self.profile, "query", doc, remote)
        return remote

    async def wait(self, remote: RemoteTask, *, on_status: StatusCallback | None = None) -> Outcome:
        p = self.profile
        loop = asyncio.get_running_loop()
        deadline = loop.time() + p.wait_timeout
        interval, failures, last = p.poll_initial, 0, None
        running_at: float | None = None  # when it was last seen unfinished
        while True:
            if self.callbacks is not None:  # what came before this query, it answers
                await self.callbacks.wait_notice(remote.external_task_id, 0)
            polled_at = loop.time()
            try:
                status, doc = await self._status_of(remote)
                failures = 0
            except _POLL_TOLERATED as exc:
                failures += 1
                if failures > p.poll_retries or loop.time() > deadline:
                    raise
                # With callbacks the interval is the slow fallback: a failed query
                # (often one a notice asked for) is asked again soon instead.
                soon = p.poll_initial if self.callbacks is not None else interval
                delay = max(soon, getattr(exc, "retry_after", None) or 0)
                log.debug("poll of %s failed (%s); again in %.1f s", remote.task_id, exc, delay)
                await asyncio.sleep(delay)
                continue
            if status != last:
                last = status
                if on_status is not None:
                    result = on_status(status)
                    if inspect.isawaitable(result):
                        await result
            if status in p.completed_statuses:
                self._polls.finished(remote.task_id, running_at, polled_at)
                return answers.outcome(self.profile, self.name, remote, self._scrubbed(doc, remote))
            if status in p.failed_statuses:
                answers.raise_failure(self.profile, remote.task_id, doc)
            running_at = polled_at
            if self.callbacks is not None:
                await self._await_notice(remote, status, deadline)
                continue
            interval = self._polls.delay(remote.task_id, loop.time(), interval)
            if loop.time() + interval > deadline:
                raise ProviderTimeout(
                    f"task {remote.task_id} still {status!r} after {p.wait_timeout:g} s"
                )
            await asyncio.sleep(interval)

    async def _status_of(self, remote: RemoteTask) -> tuple[str, Any]:
        """One status query: the status name and the document, checked against what
        was sent before anything in it is believed."""
        p = self.profile
        doc = await self._call("status", "GET", p.status_url(remote.task_id))
        answers.check_answer(self.profile, "status", doc, remote)
        status = extract(doc, p.status_field)
        if not isinstance(status, str) or not (
            p.is_terminal(status) or status in p.in_progress_statuses
        ):
            raise MalformedResponse(
                f"task {remote.task_id}: unknown status {status!r}; if the provider uses "
                "it for unfinished tasks, add it to in_progress_statuses in the profile"
            )
        return status, doc

    async def status(self, remote: RemoteTask) -> Outcome | None:
        """Ask once: the task's Outcome if it is completed, None while it runs; a failed
        task raises as `wait` does. For a caller that waits its own way (a workflow
        woken by callbacks through the engine)."""
        status, doc = await self._status_of(remote)
        if status in self.profile.completed_statuses:
            return answers.outcome(self.profile, self.name, remote, self._scrubbed(doc, remote))
        if status in self.profile.failed_statuses:
            answers.raise_failure(self.profile, remote.task_id, doc)
        return None

    async def _await_notice(self, remote: RemoteTask, status: str, deadline: float) -> None:
        """Sleep until the hub has a notice for the task or the fallback poll is due;
        ProviderTimeout once the wait's deadline has passed."""
        assert self.callbacks is not None
        p = self.profile
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise ProviderTimeout(
                f"task {remote.task_id} still {status!r} after {p.wait_timeout:g} s"
            )
        notice = await self.callbacks.wait_notice(
            remote.external_task_id, min(p.callback_poll, left)
        )
        log.debug(
            "task %s: %s; asking for its status",
            remote.task_id,
            "a notice came" if notice is not None else "fallback poll due",
        )

    def _scrubbed(self, doc: Any, remote: RemoteTask) -> Any:
        """`doc` without the task's callback URL or its token in it (a provider may echo
        the request): the run record and the journal keep the status document."""
        if self.callbacks is None:
            return doc
        url = self.callbacks.url_for(remote.external_task_id)
        token = url.rsplit("/", 1)[-1]
        text = json.dumps(doc)
        clean = text.replace(url, "***").replace(token, "***")
        return doc if clean == text else json.loads(clean)

    async def download(self, outcome: Outcome, dest: Path) -> media.MediaInfo:
        url = self.profile.url(outcome.video_url)
        shown = f"task {outcome.task_id}: download from {_without_query(url)}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with scratch.replacing(dest) as tmp:
                async with asyncio.timeout(self.profile.download_timeout):
                    await self._stream_to(url, tmp, shown)
                info = await asyncio.to_thread(media.probe, tmp)
                answers.check_clip(info, outcome, shown)
        except TimeoutError as exc:
            raise DownloadError(
                f"{shown} did not finish within {self.profile.download_timeout:g} s"
            ) from exc
        except ProbeError as exc:
            raise DownloadError(f"{shown}: the file is not a whole video ({exc})") from exc
        except OSError as exc:
            raise DownloadError(f"{shown}: cannot write {dest} ({exc.strerror})") from exc
        log.info("downloaded task %s to %s (%.2f s)", outcome.task_id, dest, info.duration)
        return dataclasses.replace(info, path=dest)

    # -- HTTP at the boundary -----------------------------------------------------

    async def _stream_to(self, url: str, tmp: Path, shown: str) -> None:
        try:
            async with self._client.stream("GET", url, follow_redirects=True) as response:
                if response.status_code != httpx.codes.OK:
                    await response.aread()
                    if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
                        raise RateLimited(f"{shown}: HTTP 429", answers.retry_after(response))
                    raise DownloadError(
                        f"{shown}: HTTP {response.status_code} (an expired output URL is "
                        "refused like this: wait() again for a fresh one)"
                    )
                length = response.headers.get("Content-Length", "")
                with tmp.open("wb") as out:
                    async for chunk in response.aiter_raw():
                        out.write(chunk)
                got = response.num_bytes_downloaded
                if length.isdigit() and got != int(length):
                    raise DownloadError(f"{shown}: got {got} of {length} bytes")
        except httpx.TimeoutException as exc:
            raise DownloadError(f"{shown}: timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise DownloadError(f"{shown}: broke off ({type(exc).__name__}: {exc})") from exc

    async def _call(
        self,
        what: str,
        method: str,
        url: str,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """One API request; the answer's JSON (envelope removed) or a typed error."""
        try:
            response = await self._client.request(method, url, json=json, params=params)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{what}: no answer in time ({type(exc).__name__})") from exc
        except httpx.UnsupportedProtocol as exc:
            raise EnvironmentProblem(f"{what}: unsupported provider URL {url}") from exc
        except httpx.TransportError as exc:
            raise ConnectionLost(
                f"{what}: connection failed or dropped ({type(exc).__name__}: {exc})"
            ) from exc
        try:
            doc: Any = response.json()
        except ValueError:
            doc = None
        if not response.is_success:
            answers.raise_for_answer(self.profile, what, response, doc)
        if doc is None:
            excerpt = REDACTOR.scrub(response.text[:80])
            raise MalformedResponse(
                f"{what}: HTTP {response.status_code} answer is not JSON: {excerpt!r}"
            )
        envelope = self.profile.envelope
        return extract(doc, envelope) if envelope else doc

    async def _find_quietly(self, external_task_id: str) -> RemoteTask | None:
        try:
            return await self.find(external_task_id)
        except ProviderError as exc:
            log.debug("lookup of %s after a failed create failed too: %s", external_task_id, exc)
            return None


def _seconds(payload: Mapping[str, Any]) -> float | None:
    """The output length a payload asks for (R19), None for a base edit (R15)."""
    duration = payload.get("duration")
    return float(duration) if isinstance(duration, str) and duration.isdigit() else None


def _mode(payload: Mapping[str, Any]) -> str | None:
    """The mode a payload asks for (R17), None if it leaves it to the provider."""
    mode = payload.get("mode")
    return mode if isinstance(mode, str) else None


def _without_query(url: str) -> str:
    """A URL fit for messages: signed output URLs carry tokens in the query."""
    return str(httpx.URL(url).copy_with(query=None, fragment=None))
