"""Which takes a run settles: the planned ones, what a killed run left unfinished,
and new ones numbered after every take known (shelf, journal, plan)."""

from __future__ import annotations

from pathlib import Path

from storyboard.animatic import RENDERER_VERSION
from storyboard.compile.compiler import Compilation, compile_specs
from storyboard.language.selection import Pick, Selection, TaskSelection
from storyboard.lint.engine import lint_file
from storyboard.provider.pricing import load_prices
from storyboard.run.cache import ClipCache
from storyboard.run.journal import Journal, record_key
from storyboard.run.units import plan_units
from tests.conftest import make_video

PREVIEW_SHELF = f"preview-r{RENDERER_VERSION}"  # the preview backend's cache shelf

STORY = """\
storyboard: 1
title: Units
scenes:
  - id: arrive
    takes: 2
    prompt: A traveller steps off a night train
    duration: 3
  - id: depart
    first_frame: {from: arrive}
    prompt: The train pulls away
    duration: 3
cut: [arrive, depart]
"""


def compiled(tmp_path: Path, selection: Selection | None = None) -> Compilation:
    story = tmp_path / "storyboard.yaml"
    story.write_text(STORY, encoding="utf-8")
    result = lint_file(story)
    assert not result.errors and result.story is not None and result.context is not None
    return compile_specs(result.story, result.context.specs, load_prices(), selection)


def test_planned_unfinished_and_new_takes_and_what_each_waits_for(tmp_path: Path) -> None:
    plan = compiled(tmp_path).plan(tmp_path / "build")
    arrive = plan.task("arrive")
    shelf = ClipCache(tmp_path / "cache", PREVIEW_SHELF)
    journal = Journal(tmp_path / "build" / "journal.sqlite")
    try:
        units = plan_units(plan, shelf, journal)
        assert list(units.by_label) == ["arrive", "arrive@2", "depart"]
        assert units["depart"].deps == ("arrive",)  # the chosen take only
        assert units.children["arrive"] == ["depart"] and units.children["arrive@2"] == []
        assert units["arrive@2"].external_task_id == arrive.external_task_id + "-t2"

        # A killed retake sent arrive@4; a take 6 is on the shelf (another build made it).
        journal.begin("arrive@4", record_key(shelf.source, arrive.cache_key))
        journal.update("arrive@4", state="submitted", external_task_id="x")
        shelf.put(arrive.cache_key, make_video(tmp_path / "six.mp4"), {"task": "arrive"}, take=6)
        units = plan_units(plan, shelf, journal, retakes={"arrive": 2})
        assert list(units.by_label) == [
            "arrive", "arrive@2", "arrive@4", "arrive@7", "arrive@8", "depart"
        ]  # fmt: skip
        assert units["arrive@4"].resumed and not units["arrive@4"].new
        assert units["arrive@7"].new and units["arrive@8"].new
        assert shelf.takes(arrive.cache_key) == [6]
    finally:
        journal.close()


def test_a_pick_is_what_dependants_wait_for_and_part_of_their_key(tmp_path: Path) -> None:
    before = compiled(tmp_path)
    key = before.tasks[0].cache_key
    picked = Selection(tasks={"arrive": TaskSelection("arrive", pick=Pick(2, key))})
    after = compiled(tmp_path, picked)
    old = {t.id: t for t in before.tasks}
    new = {t.id: t for t in after.tasks}
    assert new["arrive"].cache_key == old["arrive"].cache_key  # the same request
    assert new["arrive"].take == 2 and old["arrive"].take == 1
    assert new["depart"].cache_key != old["depart"].cache_key  # built from another frame
    units = plan_units(after.plan(tmp_path / "build"), ClipCache(tmp_path, PREVIEW_SHELF), None)
    assert units["depart"].deps == ("arrive@2",)

    stale = Selection(tasks={"arrive": TaskSelection("arrive", pick=Pick(2, "0" * 64))})
    ignored = compiled(tmp_path, stale)
    assert [t.cache_key for t in ignored.tasks] == [t.cache_key for t in before.tasks]
    assert [tid for tid, _ in ignored.stale_picks] == ["arrive"]
