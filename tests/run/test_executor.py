"""The executor over real backends: dependencies, failures, faults, cache, budget.

A small storyboard with a chain (dawn → boats → night) and an independent
scene (storm) runs on the preview backend and on the kirin client against
the mock provider over real HTTP; the mock counts every request it gets.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from storyboard.animatic import RENDERER_VERSION
from storyboard.compile.compiler import written_plan
from storyboard.errors import BudgetExceeded
from storyboard.media import probe
from storyboard.mock.server import MockConfig, MockHandle, running_mock
from storyboard.pipeline import compile_storyboard
from storyboard.provider.profile import ProviderProfile
from storyboard.run.backends.base import Backend
from storyboard.run.backends.kirin import KirinBackend
from storyboard.run.backends.preview import PreviewBackend
from storyboard.run.cache import ClipCache
from storyboard.run.executor import Executor, RunOptions, RunReport
from storyboard.run.journal import Journal
from storyboard.run.slots import AdaptiveLimit
from tests.conftest import flip_bytes, make_video

PREVIEW_SHELF = f"preview-r{RENDERER_VERSION}"  # the preview backend's cache shelf

STORY = """\
storyboard: 1
title: Harbour
defaults: {{mode: std, aspect_ratio: "16:9"}}
scenes:
  - id: dawn
    prompt: "Dawn over the harbour, mist on the water"
    duration: 3
  - id: boats
    first_frame: {{from: dawn}}
    shots:
      - {{duration: 2, prompt: "{boats} leave the quay"}}
      - {{duration: 2, prompt: "Gulls follow the last boat"}}
  - id: storm
    prompt: "A storm gathers over the open sea"
    duration: 3
  - id: night
    first_frame: {{from: boats}}
    prompt: "Night falls; the lighthouse beam sweeps the water"
    duration: 3
{extra}"""
KEY = "sk-test-run-0042"
FAST = MockConfig(queue_seconds=0.05, process_seconds=0.1, render_workers=2)
QUICK = RunOptions(jobs=4, backoff_base=0.05, backoff_max=0.3, seed=1)


def write_story(folder: Path, *, boats: str = "Fishing boats", extra_scenes: int = 0) -> Path:
    extra = "".join(
        f'  - id: extra{i}\n    prompt: "Harbour detail number {i}"\n    duration: 3\n'
        for i in range(extra_scenes)
    )
    path = folder / "storyboard.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(STORY.format(boats=boats, extra=extra), encoding="utf-8")
    return path


def profile(mock: MockHandle, **changes: Any) -> ProviderProfile:
    base = ProviderProfile(
        base_url=mock.base_url, poll_initial=0.05, poll_max=0.2, request_timeout=5.0
    )
    return dataclasses.replace(base, **changes)


def execute(
    story: Path,
    build: Path,
    backend: Backend,
    cache: ClipCache,
    options: RunOptions = QUICK,
    events: list[dict[str, Any]] | None = None,
    *,
    journal_in_memory: bool = False,
) -> RunReport:
    """Compile and run the plan on `backend` (what `render` does, minus the stitch)."""
    plan = compile_storyboard(story)
    _, data = written_plan(plan, build)
    journal = Journal(None if journal_in_memory else build / "journal.sqlite")
    executor = Executor(
        data,
        build,
        backend,
        cache=cache,
        journal=journal,
        story_dir=plan.story.base_dir,
        events=events.append if events is not None else None,
        options=options,
    )

    async def go() -> RunReport:
        async with backend:
            return await executor.run()

    try:
        return asyncio.run(go())
    finally:
        journal.close()


def statuses(report: RunReport) -> dict[str, str]:
    return {tid: r.status for tid, r in report.results.items()}


# --- the graph ------------------------------------------------------------------------


def test_tasks_start_only_after_their_dependencies(tmp_path: Path) -> None:
    story = write_story(tmp_path / "story")
    events: list[dict[str, Any]] = []
    backend = PreviewBackend(tmp_path / "build" / "preview")
    report = execute(
        story, tmp_path / "build", backend, ClipCache(tmp_path / "cache"), events=events
    )
    assert statuses(report) == dict.fromkeys(("dawn", "boats", "storm", "night"), "done")
    order = [(e["event"], e.get("task")) for e in events]
    for task, dep in (("boats", "dawn"), ("night", "boats")):
        assert order.index(("task_done", dep)) < order.index(("task_submitted", task))
    for task, seconds in (("dawn", 3), ("boats", 4), ("storm", 3), ("night", 3)):
        clip = probe(tmp_path / "build" / "clips" / f"{task}.mp4")
        assert clip.video_duration == pytest.approx(seconds, abs=1e-6)


def test_a_run_with_its_journal_in_memory_writes_no_journal(tmp_path: Path) -> None:
    # A worker's take: the engine keeps what must survive, the journal is scratch.
    story = write_story(tmp_path / "story")
    backend = PreviewBackend(tmp_path / "build" / "preview")
    report = execute(story, tmp_path / "build", backend, ClipCache(tmp_path / "cache"),
                     journal_in_memory=True)  # fmt: skip
    assert set(statuses(report).values()) == {"done"}
    assert not list((tmp_path / "build").glob("journal.sqlite*"))


def test_a_frame_placeholder_carries_the_upstream_last_frame(tmp_path: Path) -> None:
    story = write_story(tmp_path / "story")
    with running_mock(FAST) as mock:
        kirin = KirinBackend(profile(mock), api_key=KEY)
        report = execute(story, tmp_path / "build", kirin, ClipCache(tmp_path / "cache"))
        assert report.ok
        sent = {t.payload["external_task_id"]: t.payload for t in mock.state.tasks.values()}
    plan = json.loads((tmp_path / "build" / "plan.json").read_text())
    boats = next(t for t in plan["tasks"] if t["id"] == "boats")
    assert boats["payload"]["image_list"][0]["image_url"] == "${task:dawn:last_frame}"
    received = sent[boats["payload"]["external_task_id"]]["image_list"][0]
    assert received["type"] == "first_frame"
    with Image.open(io.BytesIO(base64.b64decode(received["image_url"]))) as frame:
        assert frame.format == "JPEG" and frame.size == (1280, 720)


# --- failures ----------------------------------------------------------------------------


def test_a_permanent_failure_skips_its_descendants_and_nothing_else(tmp_path: Path) -> None:
    story = write_story(tmp_path / "story", boats="REJECT-ME boats")
    with running_mock(dataclasses.replace(FAST, e3_match=("REJECT-ME",))) as mock:
        kirin = KirinBackend(profile(mock), api_key=KEY)
        report = execute(story, tmp_path / "build", kirin, ClipCache(tmp_path / "cache"))
        creates = mock.stats()["create_by_external_id"]
    assert statuses(report) == {
        "dawn": "done", "boats": "failed", "storm": "done", "night": "skipped"
    }  # fmt: skip
    assert not report.ok
    assert "TaskCreationError" in (report.results["boats"].error or "")
    assert report.results["night"].error == "upstream boats failed"
    assert sorted(creates.values()) == [1, 1, 1]  # E3 is permanent: boats was sent once


def test_transient_faults_of_every_kind_are_retried_to_completion(tmp_path: Path) -> None:
    story = write_story(tmp_path / "story", extra_scenes=8)
    config = dataclasses.replace(
        FAST,
        seed=86,
        e1_rate=0.2,
        e2_rate=0.2,
        http_429_rate=0.03,
        retry_after=0.1,
        http_5xx_rate=0.03,
        slow_rate=0.03,
        slow_seconds=0.2,
        hang_rate=0.03,
        hang_seconds=3.0,
        drop_rate=0.03,
        malformed_rate=0.03,
        truncate_rate=0.2,  # downloads only: about 1 in 5 breaks off
    )
    with running_mock(config) as mock:
        kirin = KirinBackend(profile(mock, request_timeout=1.0), api_key=KEY)
        options = dataclasses.replace(QUICK, max_attempts=12)
        report = execute(story, tmp_path / "build", kirin, ClipCache(tmp_path / "cache"), options)
        stats = mock.stats()
    assert report.ok, {t: r.error for t, r in report.results.items() if r.error}
    assert report.count("done") == 12
    injected = {k: v for k, v in stats.items() if k.startswith("fault_") and v}
    assert sum(injected.values()) >= 10, injected
    # Each endpoint (and the task fates) draws from its own seeded stream, so the n-th
    # create, status or download meets the same fault whatever the timing. Seed 86 puts
    # all nine kinds within the first 12 of their stream, and each of the 12 tasks makes
    # at least one create, status and download: every kind strikes in every run.
    kinds = {"e1", "e2", "http_429", "http_5xx", "slow", "hang", "drop", "malformed", "truncate"}
    assert {k.removeprefix("fault_") for k in injected} == kinds, injected
    for task in report.results:
        assert probe(tmp_path / "build" / "clips" / f"{task}.mp4").has_video


# --- cache and budget --------------------------------------------------------------------


def test_a_cached_task_sends_nothing(tmp_path: Path) -> None:
    story = write_story(tmp_path / "story")
    cache = ClipCache(tmp_path / "cache")
    with running_mock(FAST) as mock:
        first = execute(story, tmp_path / "b1", KirinBackend(profile(mock), api_key=KEY), cache)
        before = mock.stats()["total"]
        second = execute(story, tmp_path / "b2", KirinBackend(profile(mock), api_key=KEY), cache)
        after = mock.stats()["total"]
    assert first.count("done") == 4 and second.count("cached") == 4
    assert after == before
    assert second.billed == 0 and first.billed > 0


def test_backends_never_share_cached_clips(tmp_path: Path) -> None:
    story = write_story(tmp_path / "story")
    cache = ClipCache(tmp_path / "cache")
    preview = PreviewBackend(tmp_path / "b1" / "preview")
    assert execute(story, tmp_path / "b1", preview, cache).count("done") == 4
    with running_mock(FAST) as mock:
        kirin = execute(story, tmp_path / "b1", KirinBackend(profile(mock), api_key=KEY), cache)
        assert kirin.count("done") == 4 and mock.stats()["create"] == 4
    assert {p.name for p in (tmp_path / "cache" / "clips").iterdir()} == {
        preview.source, f"kirin-127.0.0.1_{mock.base_url.rsplit(':', 1)[1].strip('/')}"
    }  # fmt: skip


def test_a_task_the_backend_lost_is_made_again_under_a_new_id(tmp_path: Path) -> None:
    """The journal says done, but neither the cache nor the backend has the clip any
    more (cache cleared, preview folder removed): a new task, not a dead end."""
    story = write_story(tmp_path / "story")
    build = tmp_path / "build"
    assert execute(story, build, PreviewBackend(build / "preview"), ClipCache(tmp_path / "c1"))
    for folder in (build / "preview", build / "clips"):
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
    events: list[dict[str, Any]] = []
    again = execute(
        story, build, PreviewBackend(build / "preview"), ClipCache(tmp_path / "c2"), events=events
    )
    assert again.ok and again.count("done") == 4
    lost = {e["task"] for e in events if e["event"] == "task_lost"}
    assert lost == {"dawn", "boats", "storm", "night"}
    assert all(r.attempts == 2 for r in again.results.values())


def test_a_plan_over_budget_sends_nothing(tmp_path: Path) -> None:
    story = write_story(tmp_path / "story")
    with running_mock(FAST) as mock:
        kirin = KirinBackend(profile(mock), api_key=KEY)
        with pytest.raises(BudgetExceeded, match="nothing was sent"):
            execute(
                story,
                tmp_path / "build",
                kirin,
                ClipCache(tmp_path / "cache"),
                dataclasses.replace(QUICK, max_cost=0.5),
            )
        assert mock.stats()["total"] == 0


def test_sending_stops_before_billed_plus_in_flight_passes_the_cap(tmp_path: Path) -> None:
    """The estimate ($1.09) fits the $1.20 cap, but the provider bills twice the list
    price: once billed + in flight + the next estimate would pass the cap, nothing more
    is sent, and what was not sent is reported as skipped for the budget."""
    story = write_story(tmp_path / "story")
    with running_mock(dataclasses.replace(FAST, bill_factor=2.0)) as mock:
        options = dataclasses.replace(QUICK, jobs=1, max_cost=1.2)
        kirin = KirinBackend(profile(mock), api_key=KEY)
        report = execute(story, tmp_path / "b", kirin, ClipCache(tmp_path / "cache"), options)
        created = mock.stats()["create"]
    done = [t for t, r in report.results.items() if r.status == "done"]
    budget = [t for t, r in report.results.items() if "budget" in (r.error or "")]
    assert budget and not report.ok
    assert created == len(done)  # a task stopped for the budget was never sent
    billed_before_last = report.billed - max(report.results[t].cost_usd for t in done)
    assert billed_before_last <= 1.2


def test_the_concurrency_limit_halves_on_back_pressure_and_recovers_slowly() -> None:
    async def scenario() -> list[int]:
        limit = AdaptiveLimit(8)
        seen = [limit.limit]
        limit.back_off()
        seen.append(limit.limit)
        limit.back_off()
        seen.append(limit.limit)
        for _ in range(2):  # a streak as long as the limit regains one slot
            await limit.acquire()
            await limit.release(ok=True)
        seen.append(limit.limit)
        return seen

    assert asyncio.run(scenario()) == [8, 4, 2, 3]


async def take_a_slot(limit: AdaptiveLimit, order: list[str], name: str, priority: float) -> None:
    """A task's whole use of a slot: wait for it, note the turn, give it back."""
    await limit.acquire(priority, name)
    order.append(name)
    await limit.release(ok=True)


def test_a_free_slot_goes_to_the_most_urgent_waiter_or_to_the_task_handed_it() -> None:
    async def scenario() -> list[str]:
        limit = AdaptiveLimit(1)
        order: list[str] = []
        worker = functools.partial(take_a_slot, limit, order)

        await limit.acquire(0, "first")
        waiting = [asyncio.create_task(worker(n, p)) for n, p in (("low", 1), ("high", 5))]
        waiting.append(asyncio.create_task(worker("mid", 3)))
        await asyncio.sleep(0.01)
        await limit.release(ok=True)
        await asyncio.gather(*waiting)

        await limit.acquire(0, "parent")
        other = asyncio.create_task(worker("other", 9))
        await asyncio.sleep(0.01)
        await limit.release(ok=True, handoff="child")  # the slot waits for the child
        await asyncio.sleep(0.01)
        assert "other" not in order
        await worker("child", 0)
        await other

        await limit.acquire(0, "parent2")
        late = asyncio.create_task(worker("late", 1))
        await limit.release(ok=True, handoff="cached-child")
        await asyncio.sleep(0.01)
        assert "late" not in order
        await limit.forget("cached-child")  # it was served from the cache: never comes
        await late
        return order

    assert asyncio.run(scenario()) == ["high", "mid", "low", "child", "other", "late"]


def test_the_task_that_handed_its_slot_on_can_take_it_back() -> None:
    """Found by the fault test hanging: a parent hands its slot to its child, then its
    download breaks and it asks for a slot again while the child waits for it. With
    one slot (after back-offs) that was a deadlock."""

    async def scenario() -> list[str]:
        limit = AdaptiveLimit(1)
        order: list[str] = []
        worker = functools.partial(take_a_slot, limit, order)

        await limit.acquire(0, "parent")
        other = asyncio.create_task(worker("other", 9))
        await limit.release(ok=True, key="parent", handoff="child")
        await asyncio.wait_for(limit.acquire(0, "parent"), timeout=2)  # its download retry
        order.append("parent again")
        await limit.release(ok=True, key="parent", handoff="child")
        await asyncio.wait_for(worker("child", 0), timeout=2)
        await asyncio.wait_for(other, timeout=2)
        return order

    assert asyncio.run(scenario()) == ["parent again", "child", "other"]


# --- integrity: what enters the film ------------------------------------------------------


def cached_clip(cache: Path, task: str) -> Path:
    """The cache's own file of `task`'s clip (found through the entries' metadata)."""
    for meta in cache.rglob("*.json"):
        if json.loads(meta.read_text())["task"] == task:
            return meta.with_suffix(".mp4")
    raise AssertionError(f"no cache entry for {task}")


def test_a_damaged_cache_entry_is_fetched_again_never_stitched_in(tmp_path: Path) -> None:
    """A same-length byte flip in the cache's clip: the next render says so, polls the
    provider's finished task for a fresh URL (no create, nothing billed) and stores a
    sound clip again. Before, the damaged clip was served as cached."""
    story = write_story(tmp_path / "story")
    cache = ClipCache(tmp_path / "cache")
    with running_mock(FAST) as mock:
        first = execute(story, tmp_path / "b", KirinBackend(profile(mock), api_key=KEY), cache)
        good = (tmp_path / "b" / "clips" / "storm.mp4").read_bytes()
        flip_bytes(cached_clip(tmp_path / "cache", "storm"))
        creates = mock.stats()["create"]
        events: list[dict[str, Any]] = []
        again = execute(
            story, tmp_path / "b", KirinBackend(profile(mock), api_key=KEY), cache, events=events
        )
        assert mock.stats()["create"] == creates
    damaged = [e for e in events if e["event"] == "cache_damaged"]
    assert [e["task"] for e in damaged] == ["storm"]
    assert "changed since it was stored" in damaged[0]["reason"]
    assert statuses(again)["storm"] == "done" and again.count("cached") == 3
    assert again.billed == 0  # a free re-download is not a second bill
    assert again.clips_cost == pytest.approx(first.billed)
    assert (tmp_path / "b" / "clips" / "storm.mp4").read_bytes() == good
    assert cached_clip(tmp_path / "cache", "storm").read_bytes() == good


def preview_clip(build: Path, task: str) -> Path:
    """The preview backend's own render of `task` (what its `download` copies)."""
    for request in (build / "preview").rglob("request.json"):
        if json.loads(request.read_text())["label"] == task:
            return request.with_name("clip.mp4")
    raise AssertionError(f"no preview render of {task}")


@pytest.mark.parametrize("damage", ["corrupt", "wrong_length"])
def test_a_clip_that_cannot_be_the_planned_one_fails_its_task_after_bounded_fetches(
    damage: str, tmp_path: Path
) -> None:
    """The provider's finished task serves a clip that does not decode, or lasts 5 s
    where the plan says 3: the task fails with the reason after a bounded number of
    fetches (before: a corrupt clip entered the cache; a wrong length looped on
    DownloadError), nothing of it enters the cache, and the other tasks finish."""
    story = write_story(tmp_path / "story")
    build = tmp_path / "b"
    assert execute(story, build, PreviewBackend(build / "preview"), ClipCache(tmp_path / "c1")).ok
    served = preview_clip(build, "storm")
    if damage == "corrupt":
        flip_bytes(served)
    else:
        make_video(served.with_name("long.mp4"), size="1280x720", seconds=5)
        served.with_name("long.mp4").replace(served)
    (build / "clips" / "storm.mp4").unlink()
    cache = ClipCache(tmp_path / "c2")
    report = execute(story, build, PreviewBackend(build / "preview"), cache)
    result = report.results["storm"]
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("ClipMismatch")
    reason = "does not decode" if damage == "corrupt" else "lasts 5.000 s, the plan says 3 s"
    assert reason in result.error
    assert {t: r.status for t, r in report.results.items() if t != "storm"} == dict.fromkeys(
        ("dawn", "boats", "night"), "done"
    )
    plan = json.loads((build / "plan.json").read_text())
    storm_key = next(t["cache_key"] for t in plan["tasks"] if t["id"] == "storm")
    assert cache.for_source(PREVIEW_SHELF).lookup(storm_key) is None
    assert not (build / "clips" / "storm.mp4").exists()


# --- honest books -------------------------------------------------------------------------


def test_what_was_billed_is_recorded_once_against_the_run_that_paid(tmp_path: Path) -> None:
    """One bill per provider task: a run from the cache, a re-download after the cache
    was cleared, and another build that finds the same tasks by their external ids
    are billed nothing, and each still says what the film's clips cost. Before, the
    cached run zeroed the journal's costs and the other two claimed the bill again."""
    story = write_story(tmp_path / "story")
    with running_mock(FAST) as mock:
        kirin = functools.partial(KirinBackend, profile(mock), api_key=KEY)
        first = execute(story, tmp_path / "b1", kirin(), ClipCache(tmp_path / "cache"))
        paid = first.billed
        assert paid > 0 and first.clips_cost == pytest.approx(paid)

        cached = execute(story, tmp_path / "b1", kirin(), ClipCache(tmp_path / "cache"))
        refetched = execute(story, tmp_path / "b1", kirin(), ClipCache(tmp_path / "empty1"))
        elsewhere = execute(story, tmp_path / "b2", kirin(), ClipCache(tmp_path / "empty2"))
        assert mock.stats()["create"] == 4
    assert cached.count("cached") == 4 and refetched.count("done") == 4
    assert elsewhere.count("done") == 4
    for report in (cached, refetched, elsewhere):
        assert report.billed == 0
        assert report.clips_cost == pytest.approx(paid)
    journal = Journal(tmp_path / "b1" / "journal.sqlite")
    try:
        costs = {t: journal.get(t).cost_usd for t in first.results}  # type: ignore[union-attr]
    finally:
        journal.close()
    assert costs == {t: pytest.approx(r.cost_usd) for t, r in first.results.items()}


# --- retries: the transport's failures and the provider's ---------------------------------


def test_transport_faults_use_a_time_budget_not_the_attempts_of_billed_failures(
    tmp_path: Path,
) -> None:
    """About half the requests fail in the transport (5xx, dropped, malformed,
    truncated downloads): six tries per task were not enough before (seed 7: `boats`
    failed on a 503); now such failures retry until the task's time budget, and
    every task completes, each created once."""
    story = write_story(tmp_path / "story", extra_scenes=5)
    config = dataclasses.replace(
        FAST,
        seed=7,
        http_5xx_rate=0.45,
        drop_rate=0.1,
        malformed_rate=0.1,
        truncate_rate=0.5,
    )
    with running_mock(config) as mock:
        kirin = KirinBackend(profile(mock, request_timeout=1.0), api_key=KEY)
        options = dataclasses.replace(QUICK, backoff_base=0.01, backoff_max=0.05)
        report = execute(story, tmp_path / "b", kirin, ClipCache(tmp_path / "cache"), options)
        stats = mock.stats()
    assert report.ok, {t: r.error for t, r in report.results.items() if r.error}
    assert all(n == 1 for n in stats["create_by_external_id"].values())


def test_a_task_gives_up_on_its_time_budget(tmp_path: Path) -> None:
    story = write_story(tmp_path / "story")
    with running_mock(dataclasses.replace(FAST, http_5xx_rate=1.0)) as mock:
        kirin = KirinBackend(profile(mock), api_key=KEY)
        options = dataclasses.replace(QUICK, retry_seconds=0.5, backoff_base=0.05)
        report = execute(story, tmp_path / "b", kirin, ClipCache(tmp_path / "cache"), options)
    for task in ("dawn", "storm"):
        error = report.results[task].error or ""
        assert error.startswith("ServerError") and "giving up on this task" in error, error
    assert statuses(report)["boats"] == "skipped"


def test_a_refused_create_is_a_retry_of_attempt_one_not_another_attempt(
    tmp_path: Path,
) -> None:
    """Every create is refused with HTTP 429 until the tasks give up: no provider
    task was ever made, so each failed task made one attempt, retried N times.
    Before, each retry was logged as attempt N+1 and run.json counted every
    refused request as an attempt."""
    story = write_story(tmp_path / "story")
    refusing = dataclasses.replace(
        FAST, http_429_rate=1.0, retry_after=0.01, fault_endpoints=("create",)
    )
    events: list[dict[str, Any]] = []
    with running_mock(refusing) as mock:
        kirin = KirinBackend(profile(mock), api_key=KEY)
        options = dataclasses.replace(QUICK, retry_seconds=0.3)
        report = execute(
            story, tmp_path / "b", kirin, ClipCache(tmp_path / "cache"), options, events
        )
        refused = mock.stats()["fault_http_429"]
    assert statuses(report) == {
        "dawn": "failed", "storm": "failed", "boats": "skipped", "night": "skipped"
    }  # fmt: skip
    assert refused > 2 and not [e for e in events if e["event"] == "task_submitted"]
    for task in ("dawn", "storm"):
        assert report.results[task].attempts == 1
        retries = [e for e in events if e["event"] == "task_retry" and e["task"] == task]
        assert [(e["attempt"], e["retry"]) for e in retries] == [
            (1, n) for n in range(1, len(retries) + 1)
        ]
