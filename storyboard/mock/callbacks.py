"""The mock's callbacks (R22): each status a task takes, POSTed to its `callback_url`.

A create that carries a `callback_url` on this machine's loopback (a host of
127.0.0.0/8, or `localhost`, by its text: nothing is resolved first) gets a
watcher that POSTs the task's status document (the very JSON of `GET` status)
when the task is queued, when it starts processing and when it completes or
fails. Any other URL is never contacted (`callback_refused` counts it).

Faults come from one seeded stream per notice, keyed by the task's external
id and the status, so a notice meets the same fate in every run however the
tasks interleave: lost (never sent), duplicated (sent twice), late (sent
`callback_late_seconds` after the change, while later ones go on), reordered
(held back and sent right after the task's next notice: an earlier status
arrives after a later one; a terminal notice has no next, so it is never
held). `/_mock/stats` counts `callback_sent` (each POST), `callback_accepted`
(2xx answers), `callback_rejected` (other answers), `callback_failed` (no
answer) and `fault_callback_<lost|duplicate|late|reorder>`; `MockState.callback_log`
keeps every POST for tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from storyboard.mock.state import PROFILE, CallbackRecord, MockState, MockTask

_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_TERMINAL = (*PROFILE.completed_statuses, *PROFILE.failed_statuses)


def may_call(url: str) -> bool:
    """True only for an http(s) URL whose host is `localhost` or in 127.0.0.0/8."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host) in _LOOPBACK
    except ValueError:
        return False


@dataclass(frozen=True)
class _Notice:
    """One status to deliver, and what its draw made of it."""

    status: str
    document: dict[str, Any]
    changed_at: float
    late: bool
    duplicate: bool


async def notify_changes(
    state: MockState,
    task: MockTask,
    url: str,
    document: Callable[[], dict[str, Any]],
    job: asyncio.Task[None],
) -> None:
    """POST each status `task` takes to `url` until it is terminal. `document` gives
    the status answer as it stands; `job` is the task's render, which settles it."""
    held: list[_Notice] = []
    last: str | None = None
    while True:
        status = state.status_of(task)
        if status != last:
            last = status
            await _notice(state, task, url, status, document(), held)
        if status in _TERMINAL:
            return
        await _next_change(state, task, status, job)


async def _next_change(
    state: MockState, task: MockTask, status: str, job: asyncio.Task[None]
) -> None:
    config = state.config
    queued_until = task.created + config.queue_seconds
    if status == "queued":
        await asyncio.sleep(max(0.0, queued_until - time.monotonic()) + 0.001)
        return
    processing_until = queued_until + config.process_seconds
    await asyncio.sleep(max(0.0, processing_until - time.monotonic()) + 0.001)
    if not task.done:
        await asyncio.wait([job])


async def _notice(
    state: MockState,
    task: MockTask,
    url: str,
    status: str,
    document: dict[str, Any],
    held: list[_Notice],
) -> None:
    config = state.config
    draw = state.fate(f"callback:{task.external_task_id or task.task_id}:{status}")
    lost, reorder, late, duplicate = (
        draw.random() < rate
        for rate in (
            config.callback_lost_rate,
            config.callback_reorder_rate,
            config.callback_late_rate,
            config.callback_duplicate_rate,
        )
    )
    terminal = status in _TERMINAL
    notice = _Notice(status, document, time.monotonic(), late, duplicate)
    if lost:
        state.counts["fault_callback_lost"] += 1
    elif reorder and not terminal:
        state.counts["fault_callback_reorder"] += 1
        held.append(notice)
        return
    else:
        await _send(state, task, url, notice)
    while held:  # what was held back goes after the notice that came later
        await _send(state, task, url, held.pop(0))


async def _send(state: MockState, task: MockTask, url: str, notice: _Notice) -> None:
    copies = 2 if notice.duplicate else 1
    if notice.duplicate:
        state.counts["fault_callback_duplicate"] += 1
    if not notice.late:
        for _ in range(copies):
            await _post(state, task, url, notice)
        return
    state.counts["fault_callback_late"] += 1

    async def later() -> None:
        await asyncio.sleep(state.config.callback_late_seconds)
        for _ in range(copies):
            await _post(state, task, url, notice)

    job = asyncio.create_task(later())
    state.background.add(job)
    job.add_done_callback(state.background.discard)


async def _post(state: MockState, task: MockTask, url: str, notice: _Notice) -> None:
    state.counts["callback_sent"] += 1
    sent_at = time.monotonic()
    answer: int | None
    try:
        response = await state.callback_client().post(
            url, json=notice.document, timeout=state.config.callback_timeout
        )
    except httpx.HTTPError:
        answer = None
        state.counts["callback_failed"] += 1
    else:
        answer = response.status_code
        state.counts["callback_accepted" if response.is_success else "callback_rejected"] += 1
    state.callback_log.append(
        CallbackRecord(
            external_task_id=task.external_task_id,
            task_id=task.task_id,
            status=notice.status,
            changed_at=notice.changed_at,
            sent_at=sent_at,
            answer=answer,
        )
    )
