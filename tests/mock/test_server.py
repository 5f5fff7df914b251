"""Contract tests: the kirin client against the mock provider over real HTTP on 127.0.0.1.

Every status path (queued/processing, completed, failed E1/E2/E3) and every
fault the mock can inject ends in the typed outcome the executor relies on
(storyboard.backends.base). Short std clips ("3" s) and small latencies keep
the whole file quick.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from storyboard.errors import (
    AuthenticationError,
    ConnectionLost,
    DownloadError,
    EnvironmentProblem,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ResourceInsufficient,
    ServerError,
    TaskCreationError,
    TaskMismatch,
    TaskNotFound,
    TaskResponseError,
    UsageError,
)
from storyboard.media import probe
from storyboard.mock import server as mock_server
from storyboard.mock.server import MockConfig, MockHandle, running_mock
from storyboard.mock.state import MockState, MockTask
from storyboard.provider import api
from storyboard.provider.pricing import estimate_cost
from storyboard.provider.profile import ProviderProfile
from storyboard.run.backends.base import Outcome, RemoteTask
from storyboard.run.backends.kirin import KirinBackend

KEY = "sk-contract-test"
PAYLOAD: dict[str, Any] = {
    "model": api.MODEL,
    "multi_shot": False,
    "prompt": "a lighthouse at dawn, waves below",
    "duration": "3",
    "sound": "off",
    "mode": "std",
    "aspect_ratio": "16:9",
    "watermark_info": {"enabled": False},
}
FAST = MockConfig(queue_seconds=0.05, process_seconds=0.1)


def profile_for(mock: MockHandle, **changes: Any) -> ProviderProfile:
    base = ProviderProfile(
        base_url=mock.base_url,
        poll_initial=0.05,
        poll_max=0.2,
        request_timeout=5.0,
        wait_timeout=30.0,
    )
    return dataclasses.replace(base, **changes)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def mock() -> Iterator[MockHandle]:
    """A fault-free mock shared by the happy-path tests."""
    with running_mock(FAST) as handle:
        yield handle


async def submit_and_wait(
    mock: MockHandle, external_id: str, payload: dict[str, Any] = PAYLOAD, **profile: Any
) -> tuple[RemoteTask, Outcome, list[str]]:
    seen: list[str] = []
    async with KirinBackend(profile_for(mock, **profile), api_key=KEY) as kirin:
        remote = await kirin.submit(payload, external_id)
        outcome = await kirin.wait(remote, on_status=seen.append)
    return remote, outcome, seen


# --- status paths ---------------------------------------------------------------------


def test_completed_task_downloads_a_verified_clip(mock: MockHandle, tmp_path: Path) -> None:
    async def scenario() -> Any:
        async with KirinBackend(profile_for(mock), api_key=KEY) as kirin:
            remote = await kirin.submit(PAYLOAD, "ok-1")
            seen: list[str] = []
            outcome = await kirin.wait(remote, on_status=seen.append)
            info = await kirin.download(outcome, tmp_path / "clips" / "ok-1.mp4")
            return remote, outcome, seen, info

    remote, outcome, seen, info = run(scenario())
    assert remote.status == "queued" and remote.external_task_id == "ok-1"
    assert seen[0] == "queued" and seen[-1] == "completed" and "processing" in seen
    assert outcome.duration == pytest.approx(3.0, abs=0.05)
    assert outcome.cost_usd == pytest.approx(estimate_cost(PAYLOAD))
    assert info.path == tmp_path / "clips" / "ok-1.mp4"
    assert (info.width, info.height) == api.frame_size("std", "16:9")
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert [p.name for p in (tmp_path / "clips").iterdir()] == ["ok-1.mp4"]
    stats = mock.stats()
    assert stats["create_by_external_id"]["ok-1"] == 1
    assert stats["download"] >= 1 and stats["status"] >= 2


def test_find_by_external_id_and_idempotent_submit(mock: MockHandle) -> None:
    async def scenario() -> Any:
        async with KirinBackend(profile_for(mock), api_key=KEY) as kirin:
            assert await kirin.find("never-sent") is None
            first = await kirin.submit(PAYLOAD, "dup-1")
            found = await kirin.find("dup-1")
            again = await kirin.submit(PAYLOAD, "dup-1")  # as after a crash: not paid twice
            return first, found, again

    first, found, again = run(scenario())
    assert found is not None and found.task_id == first.task_id
    assert again.task_id == first.task_id
    assert mock.stats()["create_by_external_id"]["dup-1"] == 2
    assert sum(1 for t in mock.state.tasks.values() if t.external_task_id == "dup-1") == 1


def test_queued_and_processing_until_the_wait_times_out() -> None:
    with running_mock(MockConfig(queue_seconds=0.4, process_seconds=30)) as slow:
        seen: list[str] = []

        async def scenario() -> None:
            async with KirinBackend(profile_for(slow, wait_timeout=0.9), api_key=KEY) as kirin:
                remote = await kirin.submit(PAYLOAD, "slow-1")
                await kirin.wait(remote, on_status=seen.append)

        with pytest.raises(ProviderTimeout, match="still 'processing'"):
            run(scenario())
        assert seen == ["queued", "processing"]


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (MockConfig(e1_rate=1.0), ResourceInsufficient),
        (MockConfig(e2_rate=1.0), TaskResponseError),
    ],
    ids=["E1", "E2"],
)
def test_failed_tasks_raise_transient_errors(
    config: MockConfig, error: type[ProviderError]
) -> None:
    with running_mock(
        dataclasses.replace(FAST, e1_rate=config.e1_rate, e2_rate=config.e2_rate)
    ) as m:
        with pytest.raises(error) as caught:
            run(submit_and_wait(m, "fail-1"))
        assert caught.value.transient
        code = api.E1_RESOURCE_INSUFFICIENT if config.e1_rate else api.E2_TASK_RESPONSE_ERROR
        assert code in str(caught.value)


def test_e3_at_creation_is_permanent() -> None:
    with running_mock(dataclasses.replace(FAST, e3_rate=1.0)) as m:
        with pytest.raises(TaskCreationError, match=api.E3_TASK_CREATION_ERROR) as caught:
            run(submit_and_wait(m, "e3-1"))
        assert not caught.value.transient


def test_e3_can_target_the_tasks_whose_prompt_matches() -> None:
    with running_mock(dataclasses.replace(FAST, e3_match=("REFUSE",))) as m:
        run(submit_and_wait(m, "fine-1"))
        with pytest.raises(TaskCreationError, match="prompt refused"):
            run(submit_and_wait(m, "bad-1", {**PAYLOAD, "prompt": "please REFUSE this"}))
        assert m.stats()["fault_e3"] == 1


def test_a_canned_clip_answers_every_task_without_rendering(tmp_path: Path) -> None:
    canned = tmp_path / "canned.mp4"
    with running_mock(FAST) as m:  # any 3 s clip will do: take one the mock renders
        _, outcome, _ = run(submit_and_wait(m, "source-1"))
        canned.write_bytes(httpx.get(outcome.video_url).content)
    config = dataclasses.replace(FAST, canned_clip=canned, bill_factor=2.0)
    with running_mock(config) as m:
        _, outcome, _ = run(submit_and_wait(m, "canned-1", {**PAYLOAD, "prompt": "other"}))
        served = httpx.get(outcome.video_url).content
    assert served == canned.read_bytes()
    assert outcome.cost_usd == pytest.approx(2 * estimate_cost(PAYLOAD))


def test_invalid_payload_is_refused_with_e3_and_the_rule(mock: MockHandle) -> None:
    bad = {k: v for k, v in PAYLOAD.items() if k != "aspect_ratio"}
    with pytest.raises(TaskCreationError, match="R18"):
        run(submit_and_wait(mock, "bad-1", bad))
    assert mock.stats()["rejected_invalid"] >= 1


def test_media_the_mock_cannot_fetch_fails_the_task_with_e3(mock: MockHandle) -> None:
    payload = {
        **PAYLOAD,
        "video_list": [{"video_url": "https://cdn.example.com/storm.mp4", "refer_type": "feature"}],
    }
    with pytest.raises(TaskCreationError, match="never fetches"):
        run(submit_and_wait(mock, "net-1", payload))


def test_base_edit_of_an_earlier_output_bills_the_source(mock: MockHandle) -> None:
    _, first, _ = run(submit_and_wait(mock, "src-1"))
    edit = {
        "model": api.MODEL,
        "prompt": "the same shot at night",
        "mode": "std",
        "video_list": [{"video_url": first.video_url, "refer_type": "base"}],
    }
    _, outcome, _ = run(submit_and_wait(mock, "edit-1", edit))
    assert outcome.duration == pytest.approx(3.0, abs=0.1)
    assert outcome.cost_usd == pytest.approx(estimate_cost(edit, source_seconds=3.0))


def test_unknown_task_is_not_found(mock: MockHandle) -> None:
    async def scenario() -> None:
        async with KirinBackend(profile_for(mock), api_key=KEY) as kirin:
            await kirin.wait(RemoteTask("kirin", "no-such-task", "x", "queued"))

    with pytest.raises(TaskNotFound):
        run(scenario())


# --- a provider that hands out task ids again ------------------------------------------------

REUSING = dataclasses.replace(FAST, task_ids="sequential")


def first_task_id(config: MockConfig) -> str:
    with running_mock(config) as m:
        remote, _, _ = run(submit_and_wait(m, "first-1"))
    return remote.task_id


def test_only_a_sequential_mock_hands_out_a_previous_process_s_task_ids() -> None:
    assert first_task_id(REUSING) == first_task_id(REUSING) == "mock-000001"
    assert first_task_id(FAST) != first_task_id(FAST)  # the default: never met elsewhere
    with pytest.raises(UsageError, match="task_ids"):
        MockConfig.from_options(task_ids="random")


def test_the_status_answer_names_what_the_task_was_made_from(mock: MockHandle) -> None:
    remote, _, _ = run(submit_and_wait(mock, "named-1"))
    headers = {"Authorization": f"Bearer {KEY}"}
    doc = httpx.get(f"{mock.base_url}/v1/videos/omni-video/{remote.task_id}", headers=headers)
    answer = doc.json()
    assert answer["metadata"]["external_task_id"] == "named-1"
    assert answer["metadata"]["mode"] == "std"
    assert answer["output"][0]["duration"] == pytest.approx(3.0, abs=0.05)


def restarted_provider(
    ours: dict[str, Any], theirs: dict[str, Any], **profile: Any
) -> tuple[RemoteTask, Outcome, str, list[str]]:
    """Our task sent to a sequential mock that is then restarted; another task takes
    our id there (and completes: a task of ours is unaffected by the checks). Returns
    ours, theirs' outcome, and why a wait for ours on the new one refused, with the
    statuses that wait reported."""
    with running_mock(REUSING) as before:
        mine, _, _ = run(submit_and_wait(before, "s1-ours", ours))
    with running_mock(REUSING) as after:
        other, outcome, _ = run(submit_and_wait(after, "s2-theirs", theirs))
        assert other.task_id == mine.task_id  # the premise: the id was handed out again
        seen: list[str] = []

        async def scenario() -> None:
            async with KirinBackend(profile_for(after, **profile), api_key=KEY) as kirin:
                await kirin.wait(mine, on_status=seen.append)

        with pytest.raises(TaskMismatch) as caught:
            run(scenario())
    assert isinstance(caught.value, TaskNotFound)  # the executor makes it again
    return mine, outcome, str(caught.value), seen


def test_an_answer_for_another_external_id_is_a_mismatch_not_a_clip() -> None:
    mine, outcome, message, seen = restarted_provider(PAYLOAD, PAYLOAD)
    assert (mine.seconds, mine.mode) == (3.0, "std")  # what we asked for, kept for later
    assert outcome.status == "completed"  # their task is fine: it is just not ours
    assert f"task {mine.task_id} with external id s2-theirs, we sent s1-ours" in message
    assert "reuses task ids" in message
    assert seen == []  # not even its status was believed


def test_a_clip_of_another_length_is_a_mismatch_where_no_external_id_is_answered() -> None:
    longer = {**PAYLOAD, "duration": "5"}
    _, outcome, message, _ = restarted_provider(longer, PAYLOAD, external_id_field="")
    assert outcome.duration == pytest.approx(3.0, abs=0.05)
    assert "with a 3 s clip, we asked for 5 s" in message


def test_a_task_of_another_mode_is_a_mismatch_where_no_external_id_is_answered() -> None:
    pro = {**PAYLOAD, "mode": "pro"}
    _, _, message, seen = restarted_provider(pro, PAYLOAD, external_id_field="")
    assert "with a std task, we asked for pro" in message and seen == []


# --- authentication and environment ---------------------------------------------------------


def test_wrong_key_is_a_permanent_error_that_names_the_variable_not_the_key() -> None:
    with running_mock(dataclasses.replace(FAST, api_key="the-right-key")) as m:

        async def scenario() -> None:
            async with KirinBackend(profile_for(m), api_key="sk-wrong-key-123") as kirin:
                await kirin.submit(PAYLOAD, "auth-1")

        with pytest.raises(AuthenticationError, match="KIRIN_API_KEY") as caught:
            run(scenario())
        assert "sk-wrong-key-123" not in str(caught.value)
        assert not caught.value.transient
        assert m.stats()["create"] == 1 and m.stats()["tasks"] == 0


def test_missing_key_or_base_url_stops_before_any_request(
    mock: MockHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KIRIN_API_KEY", raising=False)
    with pytest.raises(EnvironmentProblem, match="KIRIN_API_KEY is not set"):
        KirinBackend(profile_for(mock))
    with pytest.raises(EnvironmentProblem, match="KIRIN_BASE_URL"):
        KirinBackend(ProviderProfile(), api_key=KEY)


# --- injected faults -----------------------------------------------------------------------


def faulty(**faults: Any) -> MockConfig:
    return dataclasses.replace(FAST, **faults)


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        ({"http_5xx_rate": 1.0}, ServerError),
        ({"drop_rate": 1.0}, ConnectionLost),
        ({"malformed_rate": 1.0}, MalformedResponse),
        ({"hang_rate": 1.0, "hang_seconds": 5.0}, ProviderTimeout),
    ],
    ids=["5xx", "dropped", "malformed", "hanging"],
)
def test_create_faults_raise_typed_transient_errors(
    faults: dict[str, Any], error: type[ProviderError]
) -> None:
    with running_mock(faulty(fault_endpoints=("create",), **faults)) as m:
        with pytest.raises(error) as caught:
            run(submit_and_wait(m, "fault-1", request_timeout=0.5))
        assert caught.value.transient
        assert m.stats()["query"] == 1  # the client looked for the task before giving up


def test_429_carries_retry_after() -> None:
    with running_mock(faulty(http_429_rate=1.0, retry_after=2.5, fault_endpoints=("create",))) as m:
        with pytest.raises(RateLimited) as caught:
            run(submit_and_wait(m, "429-1"))
        assert caught.value.retry_after == pytest.approx(2.5)
        assert m.stats()["query"] == 0  # refused for load: no extra lookups


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        ({"http_5xx_rate": 1.0}, ServerError),
        ({"http_429_rate": 1.0, "retry_after": 0.05}, RateLimited),
        ({"drop_rate": 1.0}, ConnectionLost),
        ({"malformed_rate": 1.0}, MalformedResponse),
        ({"hang_rate": 1.0, "hang_seconds": 5.0}, ProviderTimeout),
    ],
    ids=["5xx", "429", "dropped", "malformed", "hanging"],
)
def test_poll_faults_surface_after_the_tolerated_retries(
    faults: dict[str, Any], error: type[ProviderError]
) -> None:
    with running_mock(faulty(fault_endpoints=("status",), **faults)) as m:
        with pytest.raises(error):
            run(submit_and_wait(m, "poll-1", poll_retries=1, request_timeout=0.5))
        assert m.stats()["status"] == 2  # one try + one tolerated retry


def test_a_few_poll_faults_are_absorbed() -> None:
    config = faulty(http_5xx_rate=1.0, drop_rate=1.0, fault_endpoints=("status",), fault_limit=3)
    with running_mock(config) as m:
        _, outcome, _ = run(submit_and_wait(m, "flaky-1", poll_retries=3))
        assert outcome.status == "completed"
        stats = m.stats()
        assert stats["fault_drop"] + stats["fault_http_5xx"] == 3


def test_slow_answers_still_complete() -> None:
    config = faulty(slow_rate=1.0, slow_seconds=0.2, fault_endpoints=("create", "status"))
    with running_mock(config) as m:
        _, outcome, _ = run(submit_and_wait(m, "slow-2"))
        assert outcome.status == "completed" and m.stats()["fault_slow"] >= 2


def test_concurrency_limit_is_answered_with_e1() -> None:
    with running_mock(MockConfig(queue_seconds=5, max_concurrent=1)) as m:

        async def scenario() -> None:
            async with KirinBackend(profile_for(m), api_key=KEY) as kirin:
                await kirin.submit(PAYLOAD, "busy-1")
                await kirin.submit(PAYLOAD, "busy-2")

        with pytest.raises(ResourceInsufficient, match=api.E1_RESOURCE_INSUFFICIENT):
            run(scenario())
        assert m.stats()["rejected_concurrency"] == 1


def test_truncated_download_leaves_nothing_behind(tmp_path: Path) -> None:
    with running_mock(faulty(truncate_rate=1.0)) as m:

        async def scenario() -> None:
            async with KirinBackend(profile_for(m), api_key=KEY) as kirin:
                remote = await kirin.submit(PAYLOAD, "trunc-1")
                outcome = await kirin.wait(remote)
                await kirin.download(outcome, tmp_path / "trunc-1.mp4")

        with pytest.raises(DownloadError, match=r"broke off|bytes"):
            run(scenario())
        assert list(tmp_path.iterdir()) == []


def test_an_output_url_is_good_for_at_least_its_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Expiry is signed in whole seconds. Rounding down once handed out, at 100.95 s
    # with a 1 s expiry, a URL stale 50 ms later (a CI failure of the test below).
    state = MockState(config=MockConfig(url_expiry_seconds=1), work_dir=tmp_path)
    task = MockTask("mock-1", "ext-1", PAYLOAD, created=0.0)
    monkeypatch.setattr(mock_server.time, "time", lambda: 100.95)
    url = httpx.URL(mock_server._clip_url(state, task, "http://127.0.0.1:1/"))
    assert int(url.params["exp"]) >= 101.95


def test_expired_output_url_is_refused_and_a_fresh_one_works(tmp_path: Path) -> None:
    with running_mock(faulty(url_expiry_seconds=1)) as m:

        async def scenario() -> Any:
            async with KirinBackend(profile_for(m), api_key=KEY) as kirin:
                remote = await kirin.submit(PAYLOAD, "exp-1")
                stale = await kirin.wait(remote)
                await asyncio.sleep(2.1)
                with pytest.raises(DownloadError, match="HTTP 403"):
                    await kirin.download(stale, tmp_path / "exp-1.mp4")
                fresh = await kirin.wait(remote)  # a finished task answers at once
                return await kirin.download(fresh, tmp_path / "exp-1.mp4")

        info = run(scenario())
        assert probe(info.path).duration == pytest.approx(3.0, abs=0.1)
        assert m.stats()["rejected_expired"] == 1


def test_fault_draws_are_reproducible_with_a_seed() -> None:
    def outcomes(seed: int) -> list[str]:
        config = faulty(seed=seed, http_5xx_rate=0.5, fault_endpoints=("query",))
        with running_mock(config) as m:

            async def scenario() -> list[str]:
                results = []
                async with KirinBackend(profile_for(m), api_key=KEY) as kirin:
                    for i in range(8):
                        try:
                            await kirin.find(f"seed-{i}")
                            results.append("ok")
                        except ServerError:
                            results.append("5xx")
                return results

            return run(scenario())

    first = outcomes(7)
    assert first == outcomes(7)
    assert "ok" in first and "5xx" in first


def test_an_endpoints_faults_do_not_depend_on_traffic_to_other_endpoints() -> None:
    """The n-th query meets the same fault whether or not status polls came between."""

    def query_outcomes(polls_between: int) -> list[int]:
        config = faulty(seed=5, http_5xx_rate=0.5, fault_endpoints=("query", "status"))
        with running_mock(config) as m, httpx.Client(base_url=m.base_url) as client:
            headers = {"Authorization": f"Bearer {KEY}"}
            codes = []
            for i in range(8):
                for _ in range(polls_between):
                    client.get(f"/v1/videos/omni-video/mock-{i}", headers=headers)
                query = {"external_task_id": f"ext-{i}"}
                codes.append(client.get("/v1/videos/omni-video", params=query, headers=headers))
            return [r.status_code for r in codes]

    alone = query_outcomes(0)
    assert alone == query_outcomes(3)
    assert set(alone) == {404, 503}  # unknown ids answer 404, the injected faults 503


def test_stats_endpoint_counts_every_request(mock: MockHandle) -> None:
    before = httpx.get(f"{mock.base_url}/_mock/stats").json()
    httpx.get(f"{mock.base_url}/v1/videos/omni-video/nope", headers={"Authorization": "Bearer k"})
    httpx.get(f"{mock.base_url}/v1/videos/omni-video", params={"external_task_id": "x"})
    after = httpx.get(f"{mock.base_url}/_mock/stats").json()
    assert after["status"] == before["status"] + 1
    assert after["query"] == before["query"] + 1
    assert after["total"] == before["total"] + 2
    assert set(after) >= {"create", "status", "query", "download", "create_by_external_id"}


def test_config_from_options_and_json(tmp_path: Path) -> None:
    config = MockConfig.from_options(e1_rate="0.25", max_concurrent="3", fault_endpoints="create")
    assert (config.e1_rate, config.max_concurrent, config.fault_endpoints) == (0.25, 3, ("create",))
    file = tmp_path / "mock.json"
    file.write_text(json.dumps({"seed": 4, "http_429_rate": 0.1, "work_dir": str(tmp_path)}))
    assert MockConfig.from_json(file) == MockConfig(seed=4, http_429_rate=0.1, work_dir=tmp_path)
    with pytest.raises(UsageError, match="unknown"):
        MockConfig.from_options(e4_rate=1)
    with pytest.raises(UsageError, match="between 0 and 1"):
        MockConfig.from_options(e1_rate=2)
