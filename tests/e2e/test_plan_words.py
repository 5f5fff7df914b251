"""What `plan` and `render` tell a newcomer, through the real command line: every
id whole at any terminal width, which cache shelf and which prices the plan
table speaks of, one meaning of "attempt" in the events and in run.json, and
a render served from the cache that does not read as a second charge.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from storyboard.mock.server import MockConfig, MockHandle, running_mock
from tests.conftest import make_video
from tests.e2e.conftest import FAST
from tests.e2e.test_render import copy_example, run_record, storyboard

# Ids longer than the columns rich would give them at 80 columns (it cut them to
# `squall_…`), a scene split into parts (`harbour_at_first_light.2`) and a chain.
LONG_IDS = """\
storyboard: 1
title: Long names
defaults: {mode: std, aspect_ratio: "16:9"}
scenes:
  - id: harbour_at_first_light
    shots:
      - {duration: 3, prompt: "Mist lifts off the harbour at first light"}
      - {duration: 3, prompt: "A gull lands on a mooring post"}
      - {duration: 3, prompt: "The first boat casts off its ropes"}
      - {duration: 3, prompt: "Nets are hauled aboard the trawler"}
      - {duration: 3, prompt: "The trawler turns towards the open sea"}
      - {duration: 3, prompt: "Its wake spreads across the calm water"}
      - {duration: 3, prompt: "The quay is empty again"}
  - id: squall_over_the_rocks
    first_frame: {from: harbour_at_first_light}
    prompt: "A squall breaks over the rocks below the lighthouse"
    duration: 5
"""

# Three 3 s tasks, one built on another's last frame; the mock answers each with
# one canned clip, so that these tests spend their time on what they check.
SPOT = """\
storyboard: 1
title: Quick spot
defaults: {mode: std, aspect_ratio: "16:9"}
scenes:
  - id: hook
    prompt: "A running shoe hits a wet street in slow motion"
    duration: 3
  - id: mascot
    prompt: "A fox in a tracksuit waves at the camera"
    duration: 3
  - id: endcard
    first_frame: {from: mascot}
    prompt: "The fox freezes mid-wave as the logo fades in"
    duration: 3
"""


@pytest.fixture(scope="module")
def canned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("canned") / "clip.mp4", seconds=3)


@pytest.fixture
def spot(tmp_path: Path) -> Path:
    story = tmp_path / "spot" / "storyboard.yaml"
    story.parent.mkdir()
    story.write_text(SPOT, encoding="utf-8")
    return story


@pytest.fixture
def quick(canned: Path) -> Any:
    with running_mock(dataclasses.replace(FAST, canned_clip=canned)) as handle:
        yield handle


def ids_of(story: Path, env: dict[str, str]) -> tuple[list[str], list[str]]:
    rows = json.loads(storyboard("plan", str(story), "--json", env=env).stdout)
    return [r["task"] for r in rows], sorted({r["scene"] for r in rows})


def test_plan_never_cuts_a_task_or_scene_id(tmp_path: Path, env: dict[str, str]) -> None:
    """At 80 columns the table drops what it can do without and fits; on a terminal
    too narrow even for the ids it is printed whole, for the terminal to wrap."""
    story = tmp_path / "film" / "storyboard.yaml"
    story.parent.mkdir()
    story.write_text(LONG_IDS, encoding="utf-8")
    tasks, scenes = ids_of(story, env)
    assert "harbour_at_first_light.2" in tasks  # the split scene's second part
    for columns in ("80", "30"):
        result = storyboard("plan", str(story), env={**env, "COLUMNS": columns})
        assert result.returncode == 0, result.stderr
        assert "…" not in result.stdout, result.stdout
        words = set(re.findall(r"[\w.]+", result.stdout))
        for name in [*tasks, *scenes]:
            assert name in words, f"{name} cut at COLUMNS={columns}:\n{result.stdout}"
    assert max(len(line) for line in result.stdout.splitlines()) > 30  # whole, not cut
    assert "not shown, for want of width: mode, shots, takes, seconds" in result.stdout


def test_the_lighthouse_plan_fits_80_columns_with_every_id(
    tmp_path: Path, env: dict[str, str]
) -> None:
    story = copy_example("lighthouse", tmp_path / "lighthouse")
    tasks, scenes = ids_of(story, env)
    result = storyboard("plan", str(story), env={**env, "COLUMNS": "80"})
    words = set(re.findall(r"[\w.]+", result.stdout))
    assert {*tasks, *scenes} <= words and "squall_night" in words, result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_the_plan_says_which_shelf_and_which_prices(
    spot: Path, env: dict[str, str], quick: MockHandle
) -> None:
    story, mock = spot, quick
    wide = {**env, "COLUMNS": "200"}
    text = " ".join(storyboard("plan", str(story), env=wide).stdout.split())
    assert "cached: on the preview shelf (free local animatics). cost: kirin list prices" in text, (
        text
    )
    assert "kirin list prices" in text and "--backend kirin" in text
    assert "to render on preview: $0.000" in text, text  # the preview bills nothing

    kirin = ["--backend", "kirin", "--base-url", mock.base_url]
    rendered = storyboard("render", str(story), *kirin, "--yes", "--select", "mascot", env=env)
    assert rendered.returncode == 0, rendered.stderr
    rows = json.loads(storyboard("plan", str(story), "--json", *kirin, env=env).stdout)
    by_task = {r["task"]: r for r in rows}
    assert by_task["mascot"]["cached"] and not by_task["hook"]["cached"]
    list_total = sum(r["list_cost_usd"] for r in rows)
    to_pay = sum(r["bill_usd"] for r in rows)
    assert to_pay == pytest.approx(list_total - by_task["mascot"]["list_cost_usd"])
    assert {r["shelf"] for r in rows} == {f"kirin-127.0.0.1_{mock.base_url.rsplit(':', 1)[1]}"}
    assert {r["price_source"] for r in rows} == {"kirin list prices"}
    assert all(r["bill_usd"] == r["estimated_cost_usd"] for r in rows)  # the old key kept

    text = " ".join(storyboard("plan", str(story), *kirin, env=wide).stdout.split())
    assert "cached: on the kirin shelf of " in text, text
    assert f"to render on kirin: ${to_pay:.3f}" in text, text
    assert f"list price of every take: ${list_total:.3f}" in text, text

    preview = json.loads(storyboard("plan", str(story), "--json", env=env).stdout)
    assert all(r["bill_usd"] == 0 and r["shelf"].startswith("preview-") for r in preview)
    assert all(r["estimated_cost_usd"] == r["list_cost_usd"] for r in preview)  # none cached


# --- attempts: one meaning in the events, in run.json and in the live view ------------


def check_attempts(events: list[dict[str, Any]], record: dict[str, Any]) -> dict[str, int]:
    """Each task's events tell one story: attempt N is submitted once, after N-1;
    a retry names the attempt it belongs to (the current one, or the next one when
    the provider failed the current one); run.json counts the same attempts."""
    made: dict[str, int] = {}  # the last attempt the provider accepted
    trying: dict[str, int] = {}  # the attempt the next request belongs to
    retries: dict[str, int] = {}
    for event in events:
        task, kind = event.get("task", ""), event["event"]
        last, now = made.get(task, 0), trying.get(task, 1)
        if kind == "task_submitted":
            assert event["attempt"] == now == last + 1, (event, made)
            made[task] = event["attempt"]
        elif kind == "task_retry" and event.get("retry") == 0:  # the provider failed `last`
            assert event.get("failed_attempt") == last >= 1, (event, made)
            assert event["attempt"] == last + 1, (event, made)
            trying[task] = last + 1
        elif kind == "task_retry":  # a refused request: a retry of the same attempt
            assert event["attempt"] == now, (event, made)
            retries[task] = retries.get(task, 0) + 1
        elif kind == "task_done":
            assert event["attempts"] == last, (event, made)
    for task_id, result in record["tasks"].items():
        assert result["attempts"] == made.get(task_id, 0), (task_id, result, made)
    return retries


def test_attempts_mean_one_thing_in_the_events_and_in_run_json(
    spot: Path, canned: Path, env: dict[str, str]
) -> None:
    """The two creates first sent are refused with HTTP 429 (retries of attempt 1),
    and the provider fails the second task it accepts with E1 (attempt 2 of that
    task). Before, the log said `task_retry attempt=2` and then `task_submitted
    attempt=1`, and run.json 1 attempt."""
    story = spot
    faults = MockConfig(
        queue_seconds=0.05, process_seconds=0.1, seed=3, e1_rate=0.1, http_429_rate=1.0,
        retry_after=0.05, fault_endpoints=("create",), fault_limit=2, canned_clip=canned,
    )  # fmt: skip
    with running_mock(faults) as mock:
        result = storyboard(
            "render", str(story), "--backend", "kirin", "--base-url", mock.base_url,
            "--yes", "--json", env=env,
        )  # fmt: skip
        stats = mock.stats()
    assert result.returncode == 0, result.stderr
    assert (stats["fault_http_429"], stats["fault_e1"]) == (2, 1), stats
    events = [json.loads(line) for line in result.stdout.splitlines()]
    record = run_record(story.parent / "build" / story.stem)
    retries = check_attempts(events, record)
    assert sum(retries.values()) == 2  # the two 429s, each a retry of its attempt
    attempts = sorted(r["attempts"] for r in record["tasks"].values())
    assert attempts == [1, 1, 2]  # one task was made twice (E1), none for the 429s


# --- money: this run's bill, and what the reused clips cost when they were made --------


def test_a_render_from_the_cache_bills_nothing_and_says_so(
    spot: Path, env: dict[str, str], quick: MockHandle
) -> None:
    story, mock = spot, quick
    kirin = ["render", str(story), "--backend", "kirin", "--base-url", mock.base_url, "--yes"]
    first = storyboard(*kirin, env=env)
    assert first.returncode == 0, first.stderr
    paid = run_record(story.parent / "build" / story.stem)["totals"]["billed_usd"]
    assert paid > 0 and f"${paid:.2f} this run" in first.stdout, first.stdout
    assert "when first rendered" not in first.stdout  # nothing was reused

    again = storyboard(*kirin, env=env)
    assert again.returncode == 0, again.stderr
    assert "billed $" not in again.stdout, again.stdout
    assert (
        f"3 cached, 0 not rendered; $0.00 this run; the 3 reused clips: ${paid:.2f} "
        "when first rendered" in again.stdout
    ), again.stdout
    totals = run_record(story.parent / "build" / story.stem)["totals"]
    assert totals["billed_usd"] == 0 and totals["clips_cost_usd"] == pytest.approx(paid)
