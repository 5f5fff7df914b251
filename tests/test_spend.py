"""The spend gate's decisions on small real plans, with both backends.

A two-task storyboard (one task feature-references a local video) is compiled
in tmp_path; the gate is asked about it on the preview backend and on kirin
clients for a provider on this machine (the mock's case: it reads local files)
and elsewhere (the real API's case: it does not). Clients are only built,
never connected: the gate decides before anything is sent.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from storyboard.compile.compiler import Compilation as Plan
from storyboard.errors import UsageError
from storyboard.pipeline import compile_storyboard
from storyboard.provider.profile import ProviderProfile
from storyboard.run.backends.base import Backend
from storyboard.run.backends.kirin import KirinBackend
from storyboard.run.backends.preview import PreviewBackend
from storyboard.run.cache import ClipCache
from storyboard.run.record import RunOptions
from storyboard.spend import Spend, assess
from tests.conftest import EXAMPLES, make_video

STORY = """\
storyboard: 1
title: Squall
assets:
  storm: {{video: storm.mp4}}
{extra}scenes:
  - id: calm
    prompt: "A calm sea at noon"
    duration: 3
  - id: squall
    video: {{asset: storm, refer: feature}}
    prompt: "The storm in <<<storm>>> rolls in over the sea"
    duration: 5
"""
KEY = "sk-spend-test-77aa"


def compiled(folder: Path, *, published: bool = False) -> Plan:
    """The storyboard compiled; `published` sets assets_base_url (no local video sent)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / "lighthouse" / "assets" / "storm.mp4", folder / "storm.mp4")
    extra = "assets_base_url: https://cdn.example.com/squall/\n" if published else ""
    path = folder / "storyboard.yaml"
    path.write_text(STORY.format(extra=extra), encoding="utf-8")
    return compile_storyboard(path)


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    return compiled(tmp_path / "story")


def kirin(base_url: str) -> Iterator[KirinBackend]:
    backend = KirinBackend(ProviderProfile(base_url=base_url), api_key=KEY)
    try:
        yield backend
    finally:
        asyncio.run(backend.aclose())


@pytest.fixture
def local_kirin() -> Iterator[KirinBackend]:
    """A provider on this machine (the mock): it reads local files, and it bills."""
    yield from kirin("http://127.0.0.1:9")


@pytest.fixture
def remote_kirin() -> Iterator[KirinBackend]:
    """A provider elsewhere (the real API): it takes videos by URL only."""
    yield from kirin("https://api.example.invalid")


def cost(plan: Plan, *task_ids: str) -> float:
    return sum(t.estimated_cost_usd for t in plan.tasks if t.id in task_ids)


def cache_clip(cache: ClipCache, backend: Backend, plan: Plan, task_id: str, tmp: Path) -> None:
    """Store a real clip for `task_id` on `backend`'s shelf, as a finished run would."""
    task = next(t for t in plan.tasks if t.id == task_id)
    clip = make_video(tmp / f"{task_id}.mp4", seconds=task.seconds)
    cache.for_source(backend.source).put(task.cache_key, clip, {"task": task_id})


def test_the_preview_backend_spends_nothing_and_asks_nothing(plan: Plan, tmp_path: Path) -> None:
    preview = PreviewBackend(tmp_path / "preview")
    spend = assess(plan, preview, ClipCache(tmp_path / "cache"), RunOptions(max_cost=0.0),
                   confirmed=False)  # fmt: skip
    assert spend == Spend(spends_money=False, to_pay=0.0, tasks=2, max_cost=0.0, confirmed=False)
    assert not spend.over_budget and not spend.needs_confirmation


def test_a_billing_backend_shows_the_whole_estimate_and_asks_first(
    plan: Plan, tmp_path: Path, local_kirin: KirinBackend
) -> None:
    cache = ClipCache(tmp_path / "cache")
    spend = assess(plan, local_kirin, cache, RunOptions(), confirmed=False)
    assert spend.spends_money and spend.tasks == 2
    assert spend.to_pay == pytest.approx(plan.total_cost) and spend.to_pay > 0
    assert spend.needs_confirmation and not spend.over_budget
    assert not assess(plan, local_kirin, cache, RunOptions(), confirmed=True).needs_confirmation


def test_max_cost_below_the_estimate_refuses_even_with_yes(
    plan: Plan, tmp_path: Path, local_kirin: KirinBackend
) -> None:
    cache = ClipCache(tmp_path / "cache")
    below = RunOptions(max_cost=plan.total_cost - 0.01)
    spend = assess(plan, local_kirin, cache, below, confirmed=True)
    assert spend.over_budget and not spend.needs_confirmation
    refused_unasked = assess(plan, local_kirin, cache, below, confirmed=False)
    assert refused_unasked.over_budget and not refused_unasked.needs_confirmation
    enough = RunOptions(max_cost=spend.to_pay)  # spending the cap itself is allowed
    assert not assess(plan, local_kirin, cache, enough, confirmed=True).over_budget


def test_only_what_would_be_sent_is_counted(
    plan: Plan, tmp_path: Path, local_kirin: KirinBackend
) -> None:
    """A clip on the backend's own shelf is free; a new take never is; tasks left out by
    --select are not sent; a preview clip never counts as the provider's."""
    cache = ClipCache(tmp_path / "cache")
    cache_clip(cache, PreviewBackend(tmp_path / "preview"), plan, "calm", tmp_path)
    spend = assess(plan, local_kirin, cache, RunOptions(), confirmed=False)
    assert spend.to_pay == pytest.approx(cost(plan, "calm", "squall"))

    cache_clip(cache, local_kirin, plan, "calm", tmp_path)
    spend = assess(plan, local_kirin, cache, RunOptions(), confirmed=False)
    assert spend.to_pay == pytest.approx(cost(plan, "squall"))

    retake = RunOptions(retakes={"calm": 2})
    spend = assess(plan, local_kirin, cache, retake, confirmed=False)
    assert spend.to_pay == pytest.approx(2 * cost(plan, "calm") + cost(plan, "squall"))
    assert spend.tasks == len(plan.tasks) + 2

    only_calm = RunOptions(only=frozenset({"calm"}))
    spend = assess(plan, local_kirin, cache, only_calm, confirmed=False)
    assert spend.to_pay == 0.0 and not spend.needs_confirmation and spend.spends_money


def test_a_local_video_is_refused_where_the_backend_cannot_read_it(
    plan: Plan, tmp_path: Path, remote_kirin: KirinBackend
) -> None:
    cache = ClipCache(tmp_path / "cache")
    with pytest.raises(UsageError, match=r"tasks squall use local video files.*\(R13\)"):
        assess(plan, remote_kirin, cache, RunOptions(), confirmed=True)


def test_a_local_video_goes_where_the_backend_reads_local_files(
    plan: Plan, tmp_path: Path, local_kirin: KirinBackend
) -> None:
    cache = ClipCache(tmp_path / "cache")
    assert local_kirin.reads_local_files and PreviewBackend(tmp_path).reads_local_files
    assert assess(plan, local_kirin, cache, RunOptions(), confirmed=True).to_pay > 0
    assess(plan, PreviewBackend(tmp_path / "preview"), cache, RunOptions(), confirmed=False)


def test_published_videos_go_to_any_backend(tmp_path: Path, remote_kirin: KirinBackend) -> None:
    plan = compiled(tmp_path / "published", published=True)
    cache = ClipCache(tmp_path / "cache")
    spend = assess(plan, remote_kirin, cache, RunOptions(), confirmed=True)
    assert not remote_kirin.reads_local_files
    assert spend.to_pay == pytest.approx(plan.total_cost)
