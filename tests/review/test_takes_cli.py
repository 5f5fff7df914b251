"""`storyboard takes`, `pick` and `reject` through the real command line (in this
process), on a real preview build with a second take on the cache shelf."""

from __future__ import annotations

import json
from pathlib import Path

from storyboard.language.selection import load_selection, selection_path
from tests.review.conftest import STORY, storyboard_here


def takes_json(folder: Path, env: dict[str, str]) -> dict[str, object]:
    done = storyboard_here("takes", STORY, "--json", env=env, cwd=folder)
    assert done.exit_code == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data


def rows(data: dict[str, object]) -> dict[str, dict[str, object]]:
    listed = data["takes"]
    assert isinstance(listed, list)
    return {r["address"]: r for r in listed}


def test_takes_lists_every_take_with_its_status_cost_and_pick(
    workdir: tuple[Path, dict[str, str]],
) -> None:
    folder, env = workdir
    data = takes_json(folder, env)
    found = rows(data)
    assert set(found) == {"opening@1", "opening@2", "walk@1"}
    assert found["opening@2"]["status"] == "kept"
    assert found["opening@2"]["cost_usd"] == 0.0  # the preview bills nothing
    assert found["opening@2"]["seconds"] == found["opening@1"]["seconds"] > 0
    assert [a for a, r in found.items() if r["picked"]] == ["opening@1", "walk@1"]
    assert data["totals"] == {"spent_usd": 0.0, "film_usd": 0.0}
    table = storyboard_here("takes", STORY, env=env, cwd=folder)
    assert table.exit_code == 0, table.stderr
    assert "opening@2" in table.stdout and "the film uses: opening@1, walk@1" in table.stdout


def test_pick_then_reject_write_the_selection_and_say_what_render_will_do(
    workdir: tuple[Path, dict[str, str]],
) -> None:
    folder, env = workdir
    picked = storyboard_here("pick", STORY, "opening", "2", env=env, cwd=folder)
    assert picked.exit_code == 0, picked.stderr
    assert "the film now uses opening@2" in picked.stdout
    assert "renders walk" in picked.stdout  # walk starts on opening's last frame
    chosen = load_selection(selection_path(folder / STORY)).tasks["opening"]
    assert chosen.pick is not None and chosen.pick.take == 2
    after = rows(takes_json(folder, env))
    assert after["opening@2"]["picked"] and after["opening@2"]["verdict"] == "good"
    assert after["walk@1"]["status"] == "planned"  # a new request: built from take 2

    rejected = storyboard_here(
        "reject", STORY, "opening@2", "--note", "too red", env=env, cwd=folder
    )
    assert rejected.exit_code == 0, rejected.stderr
    assert "the film now uses opening@1" in rejected.stdout
    final = rows(takes_json(folder, env))
    assert final["opening@2"]["verdict"] == "reject"
    assert final["opening@2"]["note"] == "too red"
    assert final["opening@1"]["picked"] and not final["opening@2"]["picked"]


def test_unknown_task_or_take_is_a_usage_error_naming_what_exists(
    workdir: tuple[Path, dict[str, str]],
) -> None:
    folder, env = workdir
    selection = selection_path(folder / STORY)
    before = selection.read_bytes()  # the fixture's retake listed opening@2 there
    for args, said in (
        (("pick", STORY, "nope", "1"), "no task 'nope'; tasks: opening, walk"),
        (("pick", STORY, "opening", "3"), "known takes: opening@1, opening@2"),
        (("reject", STORY, "walk@2"), "walk has no take 2; its known takes: walk@1"),
        (("pick", STORY, "opening", "zero"), "a take number is 1, 2, 3"),
        (("pick", STORY, "opening"), "give TASK TAKE or TASK@K"),
    ):
        done = storyboard_here(*args, env=env, cwd=folder)
        assert done.exit_code == 2, (args, done.stdout, done.stderr)
        assert said in done.stderr
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert selection.read_bytes() == before  # nothing was written


def test_retake_lists_its_takes_and_a_reject_says_which_take_the_next_render_makes(
    workdir: tuple[Path, dict[str, str]],
) -> None:
    folder, env = workdir
    take_two = rows(takes_json(folder, env))["opening@2"]
    made = load_selection(selection_path(folder / STORY)).tasks["opening"].marks
    assert [(m.take, m.verdict) for m in made] == [(2, None)]  # lint can know it exists
    for take in ("1", "2"):
        done = storyboard_here("reject", STORY, "opening", take, env=env, cwd=folder)
        assert done.exit_code == 0, done.stderr
    assert "the film now uses opening@3" in done.stdout
    assert "makes opening@3 (no clip of it yet)" in done.stdout
    assert "sends nothing new" not in done.stdout
    assert rows(takes_json(folder, env))["opening@3"]["status"] == "planned"
    assert take_two["status"] == "kept"
