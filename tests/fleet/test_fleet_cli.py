"""What `worker`, `status` and `render --database` say to bad input: one line, exit 2,
no traceback, never a password; and the parts that need no server: the names of
takes, whom a take is billed to, and the shared ledger on SQLite."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from storyboard.fleet.budget import SharedBudget
from storyboard.fleet.coordinator import TakeState, settled_results
from storyboard.fleet.jobs import plan_jobs, queue_priority
from storyboard.pipeline import compile_storyboard
from storyboard.run.budget import BudgetRefused
from storyboard.run.cache import ClipCache
from storyboard.run.units import plan_units
from tests.fleet.conftest import storyboard_of


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KIRIN_", "STORYBOARD_"))}
    base.update(KIRIN_BASE_URL="http://127.0.0.1:9", KIRIN_API_KEY="sk-x")
    return subprocess.run(
        [sys.executable, "-m", "storyboard", *args],
        env={**base, **(env or {})},
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--database", "mysql://db/x"], "not a database URL the engine can use"),
        (["--detach"], "--detach needs --database"),
        (["--database", "sqlite:///nowhere/at/all.db"], "cannot use the database"),
    ],
)
def test_render_refuses_a_bad_engine_in_one_line(
    tmp_path: Path, extra: list[str], said: str
) -> None:
    story = storyboard_of(tmp_path, 1)
    result = cli("render", str(story), "--backend", "kirin", "--yes", *extra)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_server_is_named_without_its_password(tmp_path: Path) -> None:
    story = storyboard_of(tmp_path, 1)
    url = f"postgresql://render:hunter2-secret@127.0.0.1:{closed_port()}/films"
    for args in (["render", str(story), "--backend", "kirin", "--yes"], ["status", str(story)]):
        result = cli(*args, "--database", url)
        assert result.returncode == 2, result.stderr
        assert "cannot use the database postgresql://render:***@127.0.0.1" in result.stderr
        assert "hunter2" not in result.stderr + result.stdout
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "build").exists()  # refused before the build folder was touched


def test_the_preview_and_a_worker_without_a_key_are_refused(tmp_path: Path) -> None:
    story = storyboard_of(tmp_path, 1)
    preview = cli("render", str(story), "--database", f"sqlite:///{tmp_path / 'e.db'}")
    assert preview.returncode == 2 and "add --backend kirin" in preview.stderr
    keyless = cli(
        "worker", "--database", f"sqlite:///{tmp_path / 'e.db'}", env={"KIRIN_API_KEY": ""}
    )
    assert keyless.returncode == 2 and "KIRIN_API_KEY" in keyless.stderr


def test_a_take_has_one_name_whichever_folder_asks_for_it(tmp_path: Path) -> None:
    shelf = ClipCache(tmp_path / "cache").for_source("kirin-provider.example")
    names = []
    for folder in ("one", "two"):
        compiled = compile_storyboard(storyboard_of(tmp_path / folder, 3, chain=1))
        plan = compiled.plan(tmp_path / folder / "build")
        units = plan_units(plan, shelf, None)
        jobs = plan_jobs(plan, units, shelf, story_dir=tmp_path / folder, assets_base_url=None)
        names.append([(job.take_id, job.after) for job in jobs])
    assert names[0] == names[1]
    (s1, _), (s2, after), _ = names[0]
    assert after == (s1.removeprefix("take:"),) and s2.startswith("take:kirin-provider.example:")
    # a take the cache has is not a job, and no job waits for it
    compiled = compile_storyboard(tmp_path / "one" / "storyboard.yaml")
    plan = compiled.plan(tmp_path / "one" / "build")
    jobs = plan_jobs(plan, plan_units(plan, shelf, None), shelf, story_dir=tmp_path,
                     assets_base_url=None, cached={"s1"})  # fmt: skip
    assert [job.label for job in jobs] == ["s2", "s3"] and jobs[0].after == ()
    # s1 starts a chain of 6 s of video (itself and s2): the account serves it first
    every = plan_jobs(plan, plan_units(plan, shelf, None), shelf, story_dir=tmp_path,
                      assets_base_url=None)  # fmt: skip
    assert [job.urgency for job in every] == [6.0, 3.0, 3.0]
    assert queue_priority(9.0) < queue_priority(6.0) < queue_priority(3.0) < queue_priority(0)
    assert queue_priority(1e9) == 1  # never out of DBOS's range


def test_the_ledger_counts_bills_and_flights_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'engine.db'}"
    ledger = SharedBudget(url, "render-1", cap=1.0)
    other = SharedBudget(url, "render-1", cap=1.0)  # another worker of the same render
    ledger.hold("a", 0.3)
    ledger.reserve("a", 0.3)  # its own flight is not counted twice
    other.reserve("b", 0.3)
    ledger.bill("a", 0.5)
    with pytest.raises(BudgetRefused, match=r"billed \$0.50 \+ in flight \$0.30"):
        other.reserve("c", 0.3)
    other.release("b")
    other.reserve("c", 0.3)
    other.release("a")  # billed: stays counted
    assert ledger.spent() == pytest.approx(0.5)
    assert SharedBudget(url, "render-2", cap=1.0).spent() == 0.0


def test_a_take_is_billed_to_the_render_it_was_made_for_and_reused_by_the_others(
    tmp_path: Path,
) -> None:
    # Two renders that enqueue the same take at once both find it new; the engine
    # keeps the first one's input, and the take's result names that render.
    compiled = compile_storyboard(storyboard_of(tmp_path / "one", 1))
    plan = compiled.plan(tmp_path / "one" / "build")
    shelf = ClipCache(tmp_path / "cache").for_source("kirin-provider.example")
    [job] = plan_jobs(plan, plan_units(plan, shelf, None), shelf, story_dir=tmp_path,
                      assets_base_url=None, budget="render-a")  # fmt: skip
    made = {"status": "done", "attempts": 1, "cost_usd": 0.25, "clip_cost_usd": 0.25,
            "render": "render-a"}  # fmt: skip
    states = {job.label: TakeState(job, "SUCCESS", "w1", made)}
    mine, theirs = settled_results(states, "render-a"), settled_results(states, "render-b")
    assert (mine["s1"].status, mine["s1"].cost_usd) == ("done", 0.25)
    reused = theirs["s1"]
    assert (reused.status, reused.cost_usd, reused.clip_cost_usd) == ("cached", 0.0, 0.25)
    failed = {job.label: TakeState(job, "ERROR", "w1", {"status": "failed", "error": "boom"})}
    assert settled_results(failed, "render-b")["s1"].status == "failed"
