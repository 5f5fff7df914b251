"""`storyboard worker`, `render --database` and `status` end to end: real PostgreSQL,
real worker and render processes, the mock provider over HTTP.

What one machine promises holds for many: one create per take however many
renders and workers ask for it, a killed worker's take finished by another
without a second create, a killed render re-attached by the next, and the
provider account's limit held across every worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storyboard.digest import file_sha256
from storyboard.fleet.engine import open_client
from storyboard.fleet.jobs import PROVIDER_WORKFLOW, queue_priority
from storyboard.media import decode_check_ffmpeg
from storyboard.mock.server import MockConfig, MockHandle, running_mock
from tests.conftest import S3Server
from tests.fleet.conftest import Postgres, start_worker, storyboard_of, workers

KEY = "sk-fleet-test-7e2a"


def fleet_env(
    root: Path, mock: MockHandle, cache: str, s3: S3Server | None = None, **profile: object
) -> dict[str, str]:
    """A machine's environment: its own home cache folder, the shared clip cache
    (and the S3 store's endpoint and keys), fast polling of the mock, the key."""
    settings = {"poll_initial": 0.05, "poll_max": 0.25, **profile}
    root.mkdir(parents=True, exist_ok=True)
    (root / "provider.json").write_text(json.dumps(settings), encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KIRIN_", "STORYBOARD_"))}
    return {
        **base,
        "XDG_CACHE_HOME": str(root / "home-cache"),
        "STORYBOARD_CACHE": cache,
        "STORYBOARD_PROVIDER": str(root / "provider.json"),
        "KIRIN_API_KEY": KEY,
        "KIRIN_BASE_URL": mock.base_url,
        **(s3.env if s3 is not None else {}),
    }


def render_args(story: Path, database: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "storyboard", "render", str(story),
        "--backend", "kirin", "--yes", "--database", database, *extra,
    ]  # fmt: skip


def render(
    story: Path, database: str, env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        render_args(story, database, *extra),
        env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def launch(story: Path, database: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """A render in the background, its output kept."""
    return subprocess.Popen(
        render_args(story, database), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def creates(mock: MockHandle) -> dict[str, int]:
    return dict(mock.stats()["create_by_external_id"])


def wait_for(what: str, ok: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ok():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def film_of(story: Path) -> Path:
    return story.parent / "build" / "storyboard" / "storyboard.mp4"


@pytest.fixture
def mock() -> Iterator[MockHandle]:
    with running_mock(MockConfig(queue_seconds=0.05, process_seconds=0.3)) as handle:
        yield handle


@pytest.fixture
def slow_mock() -> Iterator[MockHandle]:
    """Tasks that take long enough to kill a process in the middle of one."""
    with running_mock(MockConfig(queue_seconds=0.1, process_seconds=3.0)) as handle:
        yield handle


def test_two_machines_three_workers_two_renders_pay_once_and_cut_one_film(
    tmp_path: Path, postgres: Postgres, mock: MockHandle, s3_server: S3Server
) -> None:
    # Two machines share only the engine's database and the S3 cache: each renders
    # from its own build folder with an empty home cache. The workers are a third:
    # three of --concurrency 4 (12 slots) against an account limit of 5.
    database, shared = postgres.url(), s3_server.url()
    stories = [storyboard_of(tmp_path / m / "film", 8, chain=1) for m in ("one", "two")]
    envs = [fleet_env(tmp_path / m, mock, shared, s3_server) for m in ("one", "two")]
    farm = fleet_env(tmp_path / "farm", mock, shared, s3_server, account_concurrency=5)
    with workers(3, database, farm, tmp_path, "--concurrency", "4"):
        runs = [launch(story, database, env) for story, env in zip(stories, envs, strict=True)]
        said = [run.communicate(timeout=240)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], said
    made = creates(mock)
    assert len(made) == 8 and set(made.values()) == {1}, made  # one create per task
    assert mock.stats()["tasks"] == 8
    assert 2 <= mock.stats()["max_concurrent_seen"] <= 5  # the account's limit held
    films = [film_of(story) for story in stories]
    for film in films:
        decode_check_ffmpeg(film)
    assert file_sha256(films[0]) == file_sha256(films[1])
    records = [json.loads((f.parent / "run.json").read_text()) for f in films]
    # Each take was made once and billed to one render; the other reused it.
    assert [r["film"] is not None for r in records] == [True, True]
    totals = [r["totals"] for r in records]
    assert sum(t["rendered"] for t in totals) + sum(t["cached"] for t in totals) == 16
    assert sum(t["billed_usd"] for t in totals) == pytest.approx(sum(
        float(task.cost) for task in mock.state.tasks.values()
    ))  # fmt: skip
    # The account's queue serves the head of the chain (6 s of video) before the rest.
    client = open_client(database)
    try:
        flows = client.list_workflows(name=PROVIDER_WORKFLOW, load_input=False)
    finally:
        client.destroy()
    priorities = sorted(flow.priority for flow in flows)
    assert priorities == [queue_priority(6.0)] + [queue_priority(3.0)] * 7

    # A fresh CI runner: an empty home cache, the shared one, the same engine: 0 creates.
    ci = fleet_env(tmp_path / "ci", mock, shared, s3_server)
    story = storyboard_of(tmp_path / "ci" / "film", 8, chain=1)
    again = render(story, database, ci)
    assert again.returncode == 0, again.stderr + again.stdout
    assert "0 rendered, 8 cached" in again.stdout
    assert len(creates(mock)) == 8 and mock.stats()["tasks"] == 8
    assert file_sha256(film_of(story)) == file_sha256(films[0])


def test_a_worker_killed_in_the_middle_of_a_task_is_finished_by_another_without_a_second_create(
    tmp_path: Path, postgres: Postgres, slow_mock: MockHandle
) -> None:
    database = postgres.url()
    env = fleet_env(tmp_path / "m", slow_mock, str(tmp_path / "shared-cache"))
    story = storyboard_of(tmp_path / "film", 3)
    first = start_worker(database, env, tmp_path / "first.log").ready()
    try:
        detached = render(story, database, env, "--detach")
        assert detached.returncode == 0, detached.stderr
        assert "enqueued 3 take(s)" in detached.stderr
        wait_for("the three creates", lambda: len(creates(slow_mock)) == 3)
    finally:
        first.kill()  # kill -9, its three tasks still processing at the provider
    status = subprocess.run(
        [sys.executable, "-m", "storyboard", "status", str(story), "--database", database],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert status.returncode == 0 and "3 take(s): 3 running" in status.stdout, status.stdout
    second = start_worker(database, env, tmp_path / "second.log").ready()
    try:
        finished = render(story, database, env)
    finally:
        second.stop()
    assert finished.returncode == 0, finished.stderr + finished.stdout
    assert "workflow(s) left by a dead worker" in second.said()
    made = creates(slow_mock)
    assert len(made) == 3 and set(made.values()) == {1}, made
    decode_check_ffmpeg(film_of(story))


def test_a_render_killed_while_its_takes_render_is_re_attached_by_the_next(
    tmp_path: Path, postgres: Postgres, slow_mock: MockHandle
) -> None:
    database = postgres.url()
    env = fleet_env(tmp_path / "m", slow_mock, str(tmp_path / "shared-cache"))
    story = storyboard_of(tmp_path / "film", 3, chain=1)
    with workers(1, database, env, tmp_path):
        killed = launch(story, database, env)
        wait_for("a create", lambda: len(creates(slow_mock)) >= 1)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        again = render(story, database, env)
    assert again.returncode == 0, again.stderr + again.stdout
    made = creates(slow_mock)
    assert len(made) == 3 and set(made.values()) == {1}, made
    decode_check_ffmpeg(film_of(story))


def test_max_cost_holds_for_the_whole_render_across_workers(
    tmp_path: Path, postgres: Postgres
) -> None:
    # Bills twice the list price: the estimate (4 x $0.252) passes the gate of $1.10,
    # the bills do not. One task at a time on the account, two workers: after two bills
    # ($1.008), a third create would pass the cap whichever worker asks.
    config = MockConfig(queue_seconds=0.05, process_seconds=0.3, bill_factor=2.0)
    with running_mock(config) as mock:
        database = postgres.url()
        env = fleet_env(tmp_path / "m", mock, str(tmp_path / "shared"), account_concurrency=1)
        story = storyboard_of(tmp_path / "film", 4)
        with workers(2, database, env, tmp_path):
            result = render(story, database, env, "--max-cost", "1.10")
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(creates(mock)) == 2
    assert result.stdout.count("skipped: s") == 2 and "would pass --max-cost $1.10" in result.stdout
    assert "$1.01 this run" in result.stdout
