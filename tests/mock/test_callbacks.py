"""The mock's callbacks (R22) and its high-water mark of concurrency.

Tasks are created over real HTTP; the callbacks land on the real receiver
served in the test's loop (`tests.receivers`), whose sink records them. The
mock stamps each POST with the monotonic clock of this same process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from storyboard.errors import UsageError
from storyboard.mock.callbacks import may_call
from storyboard.mock.server import MockConfig, MockHandle, running_mock
from storyboard.provider import api
from tests.receivers import KEY, Recorder, serving

AUTH = {"Authorization": "Bearer sk-mock-callbacks"}
PAYLOAD: dict[str, Any] = {
    "model": api.MODEL,
    "prompt": "a bell over the harbour",
    "duration": "3",
    "mode": "std",
    "aspect_ratio": "16:9",
}


@pytest.fixture
def fast(media_dir: Path) -> MockConfig:
    """A quick mock whose every task is answered with one 3 s clip (no rendering): what
    is tested is the lifecycle and its callbacks, not the animatic."""
    return MockConfig(queue_seconds=0.05, process_seconds=0.15, canned_clip=media_dir / "clip.mp4")


TERMINAL = ("completed", "failed")


async def create(client: httpx.AsyncClient, mock: MockHandle, ext: str, **extra: Any) -> str:
    body = {**PAYLOAD, "external_task_id": ext, **extra}
    answer = await client.post(f"{mock.base_url}/v1/videos/omni-video", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["task_id"])


async def settled(mock: MockHandle, sent: int, seconds: float = 20) -> None:
    """Until every task is terminal, the mock has nothing left to send (no render, no
    watcher, no late notice) and at least `sent` POSTs were answered."""
    give_up = time.monotonic() + seconds
    while (
        len(mock.state.callback_log) < sent
        or mock.state.background
        or any(mock.state.status_of(t) not in TERMINAL for t in mock.state.tasks.values())
    ):
        assert time.monotonic() < give_up, (mock.stats(), mock.state.background)
        await asyncio.sleep(0.02)


def run_tasks(
    config: MockConfig, ids: list[str], sent: int, sink: Recorder | None = None
) -> tuple[Recorder, MockHandle, dict[str, Any]]:
    """Create one task per external id with its callback URL; wait for `sent` POSTs."""
    recorder = sink or Recorder()
    with running_mock(config) as mock:

        async def scenario() -> None:
            async with serving(recorder) as base, httpx.AsyncClient() as client:
                for ext in ids:
                    await create(client, mock, ext, callback_url=KEY.url(base, ext))
                await settled(mock, sent)

        asyncio.run(scenario())
        return recorder, mock, mock.stats()


def test_every_status_change_is_posted_as_the_status_document(fast: MockConfig) -> None:
    recorder, mock, stats = run_tasks(fast, ["cb-1", "cb-2"], sent=6)
    for ext in ("cb-1", "cb-2"):
        assert recorder.statuses(ext) == ["queued", "processing", "completed"]
    # The body is the status query's document: the same keys, the same task.
    last = [body for ext, body, _ in recorder.got if ext == "cb-1"][-1]
    assert set(last) == {"task_id", "status", "error", "output", "usage", "metadata"}
    assert last["metadata"]["external_task_id"] == "cb-1"
    assert last["output"][0]["content"][0]["url"].startswith(mock.base_url + "/files/")
    assert (stats["callback_sent"], stats["callback_accepted"]) == (6, 6)
    assert all(stats[f"fault_callback_{k}"] == 0 for k in ("lost", "duplicate", "late", "reorder"))


def test_a_failed_task_is_called_back_with_its_error(fast: MockConfig) -> None:
    recorder, _, _ = run_tasks(dataclasses.replace(fast, e2_rate=1.0), ["cb-f"], sent=3)
    assert recorder.statuses("cb-f") == ["queued", "processing", "failed"]
    assert recorder.got[-1][1]["error"]["code"] == api.E2_TASK_RESPONSE_ERROR


def test_lost_notices_are_never_sent(fast: MockConfig) -> None:
    config = dataclasses.replace(fast, callback_lost_rate=1.0)
    recorder, _, stats = run_tasks(config, ["cb-l"], sent=0)
    assert recorder.got == [] and stats["callback_sent"] == 0
    assert stats["fault_callback_lost"] == 3


def test_duplicated_notices_are_sent_twice(fast: MockConfig) -> None:
    config = dataclasses.replace(fast, callback_duplicate_rate=1.0)
    recorder, _, stats = run_tasks(config, ["cb-d"], sent=6)
    assert recorder.statuses("cb-d") == [
        s for s in ("queued", "processing", "completed") for _ in "12"
    ]
    assert (stats["fault_callback_duplicate"], stats["callback_sent"]) == (3, 6)


def test_late_notices_come_the_configured_time_after_the_change(fast: MockConfig) -> None:
    config = dataclasses.replace(fast, callback_late_rate=1.0, callback_late_seconds=0.4)
    recorder, mock, stats = run_tasks(config, ["cb-t"], sent=3)
    assert stats["fault_callback_late"] == 3
    assert sorted(recorder.statuses("cb-t")) == ["completed", "processing", "queued"]
    for record in mock.state.callback_log:
        assert record.sent_at - record.changed_at >= 0.4


def test_reordered_notices_arrive_after_the_later_one(fast: MockConfig) -> None:
    """Every notice held back (rate 1): the terminal one, which has no next to wait
    for, comes first, then the earlier ones in their order."""
    config = dataclasses.replace(fast, callback_reorder_rate=1.0)
    recorder, _, stats = run_tasks(config, ["cb-r"], sent=3)
    assert recorder.statuses("cb-r") == ["completed", "queued", "processing"]
    assert stats["fault_callback_reorder"] == 2  # never the terminal notice


def test_callback_faults_are_the_same_in_every_run_however_tasks_interleave(
    fast: MockConfig,
) -> None:
    config = dataclasses.replace(fast, seed=7, callback_lost_rate=0.4, callback_duplicate_rate=0.3)
    ids = [f"cb-s{i}" for i in range(5)]

    def delivered(order: list[str]) -> tuple[Counter[tuple[str, str]], dict[str, Any]]:
        recorder, _, stats = run_tasks(config, order, sent=0)  # settled: nothing left to send
        return Counter((ext, str(body["status"])) for ext, body, _ in recorder.got), stats

    (first, stats), (second, _) = delivered(ids), delivered(list(reversed(ids)))
    assert first == second
    assert 0 < stats["fault_callback_lost"] < 15 and stats["fault_callback_duplicate"] > 0
    assert sum(first.values()) == stats["callback_sent"]


def test_only_loopback_callback_urls_are_ever_contacted(fast: MockConfig) -> None:
    assert may_call("http://127.0.0.1:9/cb") and may_call("http://127.8.9.10/cb")
    assert may_call("http://localhost:9/cb") and may_call("https://LOCALHOST/cb")
    for elsewhere in (
        "http://10.0.0.1/cb",
        "http://169.254.169.254/latest",
        "http://[::1]:9/cb",
        "http://example.com/cb",
        "http://127.0.0.1.nip.io/cb",
        "file:///etc/passwd",
        "ftp://127.0.0.1/cb",
    ):
        assert not may_call(elsewhere), elsewhere

    with running_mock(fast) as mock:

        async def scenario() -> None:
            async with httpx.AsyncClient() as client:
                await create(client, mock, "cb-far", callback_url="http://192.0.2.1:9/cb")
                await settled(mock, 0)

        asyncio.run(scenario())
        stats = mock.stats()
    assert stats["callback_refused"] == 1 and stats["callback_sent"] == 0


def test_callback_options_are_checked_like_the_others() -> None:
    config = MockConfig.from_options(callback_lost_rate="0.5", callback_late_seconds=3)
    assert (config.callback_lost_rate, config.callback_late_seconds) == (0.5, 3.0)
    with pytest.raises(UsageError, match="between 0 and 1"):
        MockConfig.from_options(callback_reorder_rate=2)


def test_the_most_unfinished_tasks_at_once_is_counted(fast: MockConfig) -> None:
    slow = dataclasses.replace(fast, queue_seconds=0.2, process_seconds=1.0)
    with running_mock(slow) as mock:

        async def scenario() -> None:
            async with httpx.AsyncClient() as client:
                await asyncio.gather(*(create(client, mock, f"hw-{i}") for i in range(3)))
                await settled(mock, 0)  # all three finished
                await create(client, mock, "hw-late")  # alone: the mark stays at 3
                await settled(mock, 0)

        asyncio.run(scenario())
        stats = mock.stats()
    assert stats["max_concurrent_seen"] == 3 and stats["tasks"] == 4
