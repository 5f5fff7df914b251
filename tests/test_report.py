"""The `plan` table (storyboard.report) on a real compiled plan and a real clip cache:
ids whole at every width, the columns a narrow terminal can do without dropped
first, and the caption saying which shelf and which prices the numbers are."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from storyboard.compile.plan import Plan
from storyboard.pipeline import compile_storyboard
from storyboard.report import Shelf, plan_rows, plan_table
from storyboard.run.cache import ClipCache

STORY = """\
storyboard: 1
title: Harbour
defaults: {mode: std, aspect_ratio: "16:9"}
scenes:
  - id: the_harbour_wakes_before_dawn
    prompt: "Mist lifts off the harbour before dawn"
    duration: 4
  - id: boats
    first_frame: {from: the_harbour_wakes_before_dawn}
    prompt: "Fishing boats leave the quay"
    duration: 5
"""
PREVIEW = Shelf("preview", "preview-r3", bills=False)
KIRIN = Shelf("kirin", "kirin-gateway.example.com_kirin", bills=True)


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    story = tmp_path / "storyboard.yaml"
    story.write_text(STORY, encoding="utf-8")
    return compile_storyboard(story).plan(tmp_path / "build")


def shown(plan: Plan, cache: ClipCache, shelf: Shelf, width: int) -> str:
    out = io.StringIO()
    plan_table(plan, plan_rows(plan, cache, shelf), shelf, Console(file=out, width=width))
    return out.getvalue()


def test_no_width_cuts_an_id(plan: Plan, tmp_path: Path) -> None:
    cache = ClipCache(tmp_path / "cache", PREVIEW.source)
    for width in (150, 80, 60, 20):
        text = shown(plan, cache, PREVIEW, width)
        words = set(re.findall(r"[\w.]+", text))
        assert {"the_harbour_wakes_before_dawn", "boats"} <= words, (width, text)
        assert "…" not in text
    wide = shown(plan, cache, PREVIEW, 150)
    assert "not shown" not in wide and max(map(len, wide.splitlines())) <= 150
    folded = shown(plan, cache, PREVIEW, 130)  # the dependency folds; every column stays
    assert "not shown" not in folded and max(map(len, folded.splitlines())) <= 130, folded
    narrow = shown(plan, cache, PREVIEW, 100)
    assert max(map(len, narrow.splitlines())) <= 100, narrow
    assert "not shown, for want of width: mode, shots, takes, seconds;" in narrow  # in order
    assert "depends on" in narrow


def test_the_preview_bills_nothing_and_the_cost_is_the_list_price(
    plan: Plan, tmp_path: Path
) -> None:
    cache = ClipCache(tmp_path / "cache", PREVIEW.source)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"an animatic")
    cache.put(plan.tasks[0].cache_key, clip, {"task": plan.tasks[0].id, "cost_usd": 0.0})
    rows = plan_rows(plan, cache, PREVIEW)
    assert [r["cached"] for r in rows] == [True, False]
    assert [r["bill_usd"] for r in rows] == [0.0, 0.0]
    assert rows[0]["estimated_cost_usd"] == 0  # the key scripts read, as before
    list_total = sum(r["list_cost_usd"] for r in rows)
    assert list_total == pytest.approx(sum(t.estimated_cost_usd for t in plan.tasks))
    text = " ".join(shown(plan, cache, PREVIEW, 200).split())
    assert "cached: on the preview shelf (free local animatics)" in text
    assert "cost: kirin list prices of every take" in text
    assert f"to render on preview: $0.000; list price of every take: ${list_total:.3f}" in text
    assert f"${rows[0]['list_cost_usd']:.3f}" in text  # a cached animatic still shows its price


def test_kirin_bills_what_its_shelf_lacks(plan: Plan, tmp_path: Path) -> None:
    cache = ClipCache(tmp_path / "cache", KIRIN.source)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"a paid clip")
    cache.put(plan.tasks[1].cache_key, clip, {"task": plan.tasks[1].id, "cost_usd": 0.42})
    rows = plan_rows(plan, cache, KIRIN)
    assert [r["bill_usd"] for r in rows] == [plan.tasks[0].estimated_cost_usd, 0.0]
    assert {r["shelf"] for r in rows} == {KIRIN.source}
    text = " ".join(shown(plan, cache, KIRIN, 200).split())
    assert f"cached: on the kirin shelf of {KIRIN.source}" in text
    to_pay, list_total = rows[0]["bill_usd"], sum(r["list_cost_usd"] for r in rows)
    assert f"to render on kirin: ${to_pay:.3f}; list price of every take: ${list_total:.3f}" in text
