"""The kirin backend with callbacks on, against the mock over real HTTP on 127.0.0.1.

The hub is the render's own (`LocalHub`, its receiver in the test's loop); the
mock calls it back, with faults when asked. What each test shows: a notice
wakes the wait at once (the fallback poll is a minute, and every wait is
bounded far below it), the status query stays the truth whatever a notice
says, a lost notice is caught by the fallback poll, and duplicated, late or
reordered notices cost at most a query each.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from storyboard.errors import EnvironmentProblem, ProviderTimeout
from storyboard.mock.server import MockConfig, MockHandle, running_mock
from storyboard.provider import api
from storyboard.provider.profile import ProviderProfile
from storyboard.run.backends.base import Outcome
from storyboard.run.backends.kirin import KirinBackend
from storyboard.run.callbacks import Listen, LocalHub
from tests.receivers import KEY

API_KEY = "sk-kirin-callbacks-7f3a"
PAYLOAD: dict[str, Any] = {
    "model": api.MODEL,
    "prompt": "a bell over the harbour",
    "duration": "3",
    "mode": "std",
    "aspect_ratio": "16:9",
}
MINUTE = 60.0
BOUND = 20.0  # every wait here must end far sooner than one fallback poll


@pytest.fixture
def fast(media_dir: Path) -> MockConfig:
    return MockConfig(queue_seconds=0.1, process_seconds=0.5, canned_clip=media_dir / "clip.mp4")


LIFECYCLE = ["queued", "processing", "completed"]


def in_order(seen: list[str]) -> bool:
    """Each status reported once, in the task's order, ending completed (a quick task
    may be first seen processing)."""
    return bool(seen) and seen[-1] == "completed" and seen == [s for s in LIFECYCLE if s in seen]


def profile_for(mock: MockHandle, **changes: Any) -> ProviderProfile:
    """Polling slowed to a minute: only a notice can end a wait in time."""
    slow = {"poll_initial": MINUTE, "poll_max": MINUTE, "callback_poll": MINUTE}
    settings = {**slow, "wait_timeout": 300.0, **changes}
    return ProviderProfile(base_url=mock.base_url, **settings)


def hub() -> LocalHub:
    return LocalHub(KEY, "http://127.0.0.1:0/cb", listen=Listen("127.0.0.1", 0))


async def submit_and_wait(
    mock: MockHandle, ext: str, callbacks: LocalHub, *, during: Any = None, **profile: Any
) -> tuple[Outcome, list[str]]:
    """Submit, then wait (at most BOUND seconds); `during(url)` runs beside the wait."""
    seen: list[str] = []
    async with KirinBackend(
        profile_for(mock, **profile), api_key=API_KEY, callbacks=callbacks
    ) as kirin:
        remote = await kirin.submit(PAYLOAD, ext)
        waiting = kirin.wait(remote, on_status=seen.append)
        async with asyncio.timeout(BOUND):
            if during is None:
                outcome = await waiting
            else:
                outcome, _ = await asyncio.gather(
                    waiting, during(callbacks.url_for(ext), callbacks.base_url)
                )
    return outcome, seen


def test_submit_sends_the_task_s_callback_url_and_a_notice_ends_the_wait(fast: MockConfig) -> None:
    with running_mock(fast) as mock:
        callbacks = hub()
        outcome, seen = asyncio.run(submit_and_wait(mock, "cbk-1", callbacks))
        task = next(iter(mock.state.tasks.values()))
        stats = mock.stats()
    assert task.payload["callback_url"] == KEY.url(callbacks.base_url, "cbk-1")
    assert outcome.status == "completed" and outcome.video_url.startswith(mock.base_url)
    assert in_order(seen)
    assert stats["callback_accepted"] == 3
    assert stats["status"] <= 1 + stats["callback_accepted"]  # a query per notice at most


def test_forged_callbacks_change_nothing(fast: MockConfig) -> None:
    """Posts with wrong tokens are refused and wake nobody; a notice with the right
    token (a replayed URL) that claims the task is done with another clip only makes
    the backend ask: the outcome is the provider's, and comes when the provider says."""
    slow = dataclasses.replace(fast, process_seconds=1.5)
    answers: list[int] = []

    async def forge(url: str, base: str) -> None:
        fake = {
            "status": "completed",
            "output": [{"content": [{"type": "video", "url": "http://127.0.0.1:9/evil.mp4"}]}],
        }
        await asyncio.sleep(0.3)  # while the task is still processing
        async with httpx.AsyncClient() as client:
            for wrong in (f"{base}/cbk-2/{'0' * 64}", KEY.url(base, "cbk-other"), base):
                answers.append((await client.post(wrong, json=fake)).status_code)
            answers.append((await client.post(url, json=fake)).status_code)

    with running_mock(slow) as mock:
        outcome, seen = asyncio.run(submit_and_wait(mock, "cbk-2", hub(), during=forge))
        task = next(iter(mock.state.tasks.values()))
        stats = mock.stats()
    assert answers == [404, 404, 404, 200]
    assert outcome.video_url == f"{mock.base_url}/files/{task.task_id}.mp4"
    assert in_order(seen) and "processing" in seen
    # One query for the forged notice, at most one per real one, and the first.
    assert stats["status"] <= 1 + stats["callback_accepted"] + 1


def test_lost_callbacks_are_caught_by_the_fallback_poll(fast: MockConfig) -> None:
    lossy = dataclasses.replace(fast, callback_lost_rate=1.0)
    with running_mock(lossy) as mock:
        outcome, seen = asyncio.run(submit_and_wait(mock, "cbk-3", hub(), callback_poll=0.3))
        stats = mock.stats()
    assert outcome.status == "completed" and in_order(seen)
    assert (stats["fault_callback_lost"], stats["callback_sent"]) == (3, 0)
    assert stats["status"] >= 2  # found by polling alone


def test_without_notices_or_polls_the_wait_still_times_out(fast: MockConfig) -> None:
    lossy = dataclasses.replace(fast, callback_lost_rate=1.0, process_seconds=30)
    with running_mock(lossy) as mock, pytest.raises(ProviderTimeout, match="still 'processing'"):
        asyncio.run(submit_and_wait(mock, "cbk-4", hub(), callback_poll=0.2, wait_timeout=1.0))


@pytest.mark.parametrize(
    "fault",
    [
        {"callback_duplicate_rate": 1.0},
        {"callback_reorder_rate": 1.0},
        {"callback_late_rate": 1.0, "callback_late_seconds": 0.3},
        {"callback_duplicate_rate": 1.0, "callback_reorder_rate": 1.0, "callback_late_rate": 0.5},
    ],
    ids=["duplicated", "reordered", "late", "all-at-once"],
)
def test_duplicated_late_and_reordered_callbacks_are_harmless(
    fault: dict[str, float], fast: MockConfig
) -> None:
    with running_mock(dataclasses.replace(fast, **fault)) as mock:
        outcome, seen = asyncio.run(submit_and_wait(mock, "cbk-5", hub()))
        stats = mock.stats()
    assert outcome.status == "completed" and outcome.video_url.startswith(mock.base_url)
    assert in_order(seen)
    assert stats["status"] <= 1 + stats["callback_sent"]
    assert stats["create"] == 1


def test_the_callback_url_and_its_token_stay_out_of_logs_and_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A provider that echoes the request's callback URL in its answers: the outcome kept
    for the run record carries neither the URL nor the token; no log line does."""
    callbacks = LocalHub(KEY, "http://127.0.0.1:9/cb")  # delivered by hand below
    token = KEY.token("cbk-6")

    def provider(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            sent["url"] = json.loads(request.content)["callback_url"]
            return httpx.Response(200, json={"task_id": "t6", "status": "queued"})
        echo = {"metadata": {"external_task_id": "cbk-6", "callback_url": sent["url"]}}
        polls.append(1)
        if len(polls) == 1:
            return httpx.Response(200, json={"task_id": "t6", "status": "processing", **echo})
        video = {"content": [{"type": "video", "url": "https://cdn.example.com/t6.mp4"}]}
        return httpx.Response(
            200, json={"task_id": "t6", "status": "completed", "output": [video], **echo}
        )

    sent: dict[str, str] = {}
    polls: list[int] = []

    async def scenario() -> Outcome:
        profile = ProviderProfile(base_url="https://api.example.com", callback_poll=MINUTE)
        transport = httpx.MockTransport(provider)
        async with KirinBackend(
            profile, api_key=API_KEY, transport=transport, callbacks=callbacks
        ) as kirin:
            remote = await kirin.submit(PAYLOAD, "cbk-6")
            waiting = asyncio.create_task(kirin.wait(remote))
            while not polls:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert await callbacks.deliver("cbk-6", {"status": "completed"})
            async with asyncio.timeout(BOUND):
                return await waiting

    with caplog.at_level(logging.DEBUG):
        outcome = asyncio.run(scenario())
    assert sent["url"] == KEY.url("http://127.0.0.1:9/cb", "cbk-6")
    kept = json.dumps(outcome.to_json())
    assert token not in kept and sent["url"] not in kept
    assert outcome.raw["metadata"]["callback_url"] == "***"
    assert outcome.video_url == "https://cdn.example.com/t6.mp4"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged and token not in logged


def test_a_profile_without_a_callback_field_refuses_callbacks() -> None:
    profile = ProviderProfile(base_url="http://127.0.0.1:9", callback_field="")
    with pytest.raises(EnvironmentProblem, match="callback_field"):
        KirinBackend(profile, api_key=API_KEY, callbacks=hub())
