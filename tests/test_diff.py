"""`storyboard diff`'s comparison: which fields of a task changed, under the names the
storyboard wrote, and what a plan diff counts (real storyboards compiled from files;
the command itself, with git, is in tests/e2e/test_diff.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from storyboard.compare.fields import Names, payload_changes
from storyboard.compare.plans import PlanDiff, compare, film_seconds
from storyboard.compare.views import as_json, as_markdown, as_text
from storyboard.compile.plan import CutEntry, Plan, Segment
from storyboard.language.montage import Transition
from storyboard.pipeline import compile_storyboard
from storyboard.run.cache import ClipCache
from tests.conftest import EXAMPLES, make_video


def labels(old: dict[str, Any], new: dict[str, Any], **kw: Any) -> list[str]:
    return [c.label for c in payload_changes(old, new, **kw)]


def shots(*prompts: str) -> dict[str, Any]:
    return {
        "multi_shot": True,
        "shot_type": "customize",
        "multi_prompt": [
            {"index": i, "prompt": p, "duration": "2"} for i, p in enumerate(prompts, start=1)
        ],
        "mode": "std",
    }


# --- one payload against another ---------------------------------------------------


def test_a_shot_is_named_by_its_number_in_the_scene() -> None:
    old, new = shots("a", "b", "c"), shots("a", "B", "c")
    assert labels(old, new) == ["prompt of shot 2"]
    # the second task of a split scene holds the scene's shots 5 to 7
    assert labels(old, new, shot_numbers=(5, 6, 7)) == ["prompt of shot 6"]
    new["multi_prompt"][0]["duration"] = "3"
    assert "duration of shot 1 (2 → 3)" in labels(old, new)


def test_a_single_prompt_and_the_settings_say_before_and_after() -> None:
    old = {"multi_shot": False, "prompt": "x", "duration": "5", "mode": "std",
           "aspect_ratio": "16:9", "watermark_info": {"enabled": False}}  # fmt: skip
    new = {**old, "prompt": "y", "duration": "6", "mode": "pro",
           "aspect_ratio": "9:16", "watermark_info": {"enabled": True}}  # fmt: skip
    assert labels(old, new) == [
        "prompt",
        "duration (5 → 6)",
        "mode (std → pro)",
        "aspect ratio (16:9 → 9:16)",
        "watermark (off → on)",
    ]


def test_equal_requests_differ_in_nothing_and_a_new_key_is_still_compared() -> None:
    old = {**shots("a"), "external_task_id": "sb-1"}
    assert labels(old, {**old, "external_task_id": "sb-2"}) == []  # derived from the key
    assert labels(old, {**old, "negative_prompt": "blur"}) == ["negative_prompt (none → blur)"]
    assert labels(shots("a", "b"), shots("a", "b", "c")) == ["shots (2 → 3)"]


def test_a_picture_keeps_its_name_when_its_bytes_change() -> None:
    """Base64 is all a payload holds; the names come from each side's storyboard,
    and a name both sides give the value wins over another asset's identical bytes."""
    old = {"image_list": [{"image_url": "AAAA"}]}
    new = {"image_list": [{"image_url": "BBBB"}]}
    before = Names({"AAAA": ["keeper"]})
    after = Names({"BBBB": ["lighthouse_night", "keeper"]})
    assert labels(old, new, old_names=before, new_names=after) == ["reference image_1 (keeper)"]
    swapped = Names({"BBBB": ["mira"]})
    assert labels(old, new, old_names=before, new_names=swapped) == [
        "reference image_1 (keeper → mira)"
    ]


def test_frames_by_role_and_references_by_order() -> None:
    """An end frame added is the one change: the references are not renumbered, and
    each is labelled with its `<<<image_N>>>` number."""
    names = Names({"L": ["lighthouse"], "N": ["lighthouse_night"], "K": ["keeper"]})
    old = {"image_list": [{"image_url": "L", "type": "first_frame"}, {"image_url": "K"}]}
    new = {"image_list": [*old["image_list"], {"image_url": "N", "type": "end_frame"}]}
    assert labels(old, new, old_names=names, new_names=names) == [
        "end frame (added: lighthouse_night)"
    ]
    moved = {"image_list": [{"image_url": "${task:arrival:last_frame}", "type": "first_frame"},
                            {"image_url": "N"}]}  # fmt: skip
    assert labels(old, moved, old_names=names, new_names=names) == [
        "first frame (lighthouse → arrival's last frame)",
        "reference image_2 (keeper → lighthouse_night)",
    ]


def test_elements_and_the_video_by_name() -> None:
    names = Names({"https://x/storm.mp4": ["storm"]}, {831204: ["mira"], 5512: ["robot"]})
    video = {"video_url": "https://x/storm.mp4", "refer_type": "feature",
             "keep_original_sound": "no"}  # fmt: skip
    old = {"element_list": [{"element_id": 831204}], "video_list": [video]}
    new = {"element_list": [{"element_id": 5512}],
           "video_list": [{**video, "refer_type": "base"}]}  # fmt: skip
    assert labels(old, new, old_names=names, new_names=names) == [
        "element_1 (mira → robot)",
        "video use (feature → base)",
    ]
    assert labels(old, {**old, "video_list": []}, old_names=names, new_names=names) == [
        "reference video (removed: storm)"
    ]


# --- two plans -------------------------------------------------------------------


def lighthouse(dest: Path) -> Path:
    shutil.copytree(EXAMPLES / "lighthouse", dest, ignore=shutil.ignore_patterns("build"))
    return dest / "storyboard.yaml"


def plan_of(story: Path) -> tuple[Plan, Names]:
    compiled = compile_storyboard(story)
    return compiled.plan(story.parent / "build"), Names.of(compiled.story)


@pytest.fixture(scope="module")
def base() -> tuple[Plan, Names]:
    """The example as it is: every test's base (compiled once: a compile is not free)."""
    return plan_of(EXAMPLES / "lighthouse" / "storyboard.yaml")


def diff_of(base: tuple[Plan, Names], head: Path, cache: ClipCache) -> PlanDiff:
    (old, old_names), (new, new_names) = base, plan_of(head)
    return compare(old, new, cache, base_names=old_names, head_names=new_names)


def changes(diff: PlanDiff) -> dict[str, list[str]]:
    return {t.task: [c.label for c in t.changes] for t in diff.tasks}


def test_an_upstream_change_names_the_upstream_task(
    tmp_path: Path, base: tuple[Plan, Names]
) -> None:
    """`return` starts on arrival's last frame: its payload holds the same placeholder
    whatever arrival is, and only arrival's key tells it changed."""
    head = lighthouse(tmp_path / "head")
    text = head.read_text(encoding="utf-8")
    head.write_text(text.replace("climbs the spiral", "descends the spiral"), encoding="utf-8")
    diff = diff_of(base, head, ClipCache(tmp_path / "cache", "preview-r3"))
    assert changes(diff) == {
        "arrival": ["prompt of shot 2"],
        "squall": [],
        "squall_night": [],
        "return": ["an upstream task changed: arrival"],
        "daybreak": [],
    }
    assert [t.status for t in diff.tasks] == ["changed", "unchanged", "unchanged", "changed",
                                              "unchanged"]  # fmt: skip


def test_a_changed_task_whose_new_clip_is_on_the_shelf_is_cached(
    tmp_path: Path, base: tuple[Plan, Names]
) -> None:
    """A revert: arrival's new request was made before, so nothing is sent for it,
    and its clip counts among those reused, at what it cost then."""
    head = lighthouse(tmp_path / "head")
    text = head.read_text(encoding="utf-8")
    head.write_text(text.replace("climbs the spiral", "descends the spiral"), encoding="utf-8")
    new, names = plan_of(head)
    cache = ClipCache(tmp_path / "cache", "preview-r3")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"a clip made before")
    cache.put(new.task("arrival").cache_key, clip, {"task": "arrival", "cost_usd": 0.5})
    diff = compare(base[0], new, cache, base_names=base[1], head_names=names)
    arrival = diff.tasks[0]
    assert (arrival.task, arrival.status, arrival.cached, arrival.cost_usd) == (
        "arrival", "changed", True, 0.0)  # fmt: skip
    assert (diff.reused_clips, diff.reused_made_usd, diff.reused_list_usd) == (1, 0.5, 0.588)
    assert diff.cost_usd == round(new.estimate.total_usd - 0.588, 4)


def test_a_local_video_counts_by_its_bytes(tmp_path: Path, base: tuple[Plan, Names]) -> None:
    """The storm clip's URL is the same; only its bytes (hashed into the key) differ."""
    head = lighthouse(tmp_path / "head")
    make_video(head.parent / "assets" / "storm.mp4", size="1280x720", seconds=4)
    diff = diff_of(base, head, ClipCache(tmp_path / "cache", "preview-r3"))
    assert changes(diff)["squall"] == ["the bytes of storm"]
    assert changes(diff)["squall_night"] == ["an upstream task changed: squall"]


def test_added_removed_takes_and_what_is_sent(tmp_path: Path, base: tuple[Plan, Names]) -> None:
    head = lighthouse(tmp_path / "head")
    text = head.read_text(encoding="utf-8")
    text = text.replace("  - id: daybreak  ", "  - id: dawn  ").replace(
        "scene: daybreak", "scene: dawn"
    )
    text = text.replace("  - id: squall   ", "  - id: squall\n    takes: 2\n   ", 1)
    head.write_text(text, encoding="utf-8")
    diff = diff_of(base, head, ClipCache(tmp_path / "cache", "preview-r3"))
    status = {t.task: t.status for t in diff.tasks}
    assert status["dawn"] == "added" and status["daybreak"] == "removed"
    assert changes(diff)["squall"] == ["takes (1 → 2)"]
    assert list(status)[-1] == "daybreak"  # the removed ones come last
    # nothing is cached: every take of every task is sent, at the plan's list prices
    new, _ = plan_of(head)
    assert diff.cost_usd == new.estimate.total_usd
    assert diff.takes_to_send == new.estimate.tasks == 6
    assert diff.reused_clips == 0


def test_the_film_length_is_the_stitchers_arithmetic(base: tuple[Plan, Names]) -> None:
    """Lighthouse's film is 26.00 s when stitched (tests/e2e/test_render probes it):
    7 + 6 + 9 (trimmed) + 5, less the 0.5 s crossfade and the 0.5 s wipe; the
    1 s fade goes through black and overlaps nothing."""
    assert film_seconds(base[0].cut) == 26.0
    one = (Segment("a", 0.0, 4.0),)
    opening = CutEntry("a", None, Transition("fade", 1.0), one)
    assert film_seconds([opening]) == 4.0  # the film opens on a fade in: no overlap
    xfade = CutEntry("b", None, Transition("circleopen", 0.6), one)
    assert film_seconds([opening, xfade]) == (4 * 24 + 4 * 24 - round(0.6 * 24)) / 24


def test_the_views_say_the_same_diff(tmp_path: Path, base: tuple[Plan, Names]) -> None:
    """Markdown for a pull request: a title with the cost, a row per task, the prompt
    before and after; text: a line per task; JSON: the documented keys."""
    head = lighthouse(tmp_path / "head")
    text = head.read_text(encoding="utf-8")
    head.write_text(text.replace("climbs the spiral", "descends the spiral"), encoding="utf-8")
    diff = diff_of(base, head, ClipCache(tmp_path / "cache", "preview-r3"))
    markdown = as_markdown(diff, "storyboard.yaml", "HEAD").splitlines()
    assert markdown[0] == "### storyboard diff: $2.856 to render (5 of 5 tasks), film 26.00 s"
    assert "| `arrival` | changed | prompt of shot 2 | to send | $0.588 |" in markdown
    assert "| `squall` | unchanged | - | to send | $0.504 |" in markdown
    # the prompt as the author wrote it: `<<<keeper>>>`, not the request's <<<image_2>>>
    after = "  - after: Close-up: <<<keeper>>> descends the spiral stairs, a brass lantern"
    assert any(line.startswith(after) for line in markdown)
    lines = as_text(diff, "storyboard.yaml", "HEAD").splitlines()
    assert lines[0] == "storyboard.yaml against HEAD: 0 added, 0 removed, 2 changed, 3 unchanged"
    assert lines[1].split() == ["changed", "arrival", "to", "send", "$0.588", "prompt", "of",
                                "shot", "2"]  # fmt: skip
    data = as_json(diff, "storyboard.yaml", {"ref": "HEAD", "file": None, "state": "compiled"},
                   "preview")  # fmt: skip
    assert list(data) == ["version", "storyboard", "base", "backend", "shelf", "prices", "tasks",
                          "counts", "to_send", "reused", "film"]  # fmt: skip
    assert data["to_send"] == {"tasks": 5, "takes": 5, "seconds": 34.0, "cost_usd": 2.856}
