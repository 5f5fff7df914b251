"""Callbacks (R22) through the engine: the provider's notices reach the workflows
waiting for its tasks, from `storyboard callback-server --database`, so that with
polling slowed to a minute the takes finish at the mock's pace; forged notices
are refused and change nothing; duplicated ones are harmless."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from storyboard.mock.server import MockConfig, running_mock
from storyboard.run.callbacks import SECRET_ENV, CallbackKey
from tests.conftest import make_video
from tests.fleet.conftest import Postgres, storyboard_of, workers
from tests.fleet.test_fleet import creates, fleet_env, render

SECRET = "fleet-callback-secret-0123456789abcdef"


def test_notices_wake_the_workflows_and_forged_ones_change_nothing(
    tmp_path: Path, postgres: Postgres
) -> None:
    database = postgres.url()
    canned = make_video(tmp_path / "canned.mp4", size="320x240", seconds=3)
    # 12 s at the provider, six tasks, an account of six: one wave, a bound of 12 s.
    # Polling once a minute, only the notices can make the takes end near it.
    config = MockConfig(
        queue_seconds=1.0, process_seconds=11.0, canned_clip=canned, callback_duplicate_rate=0.5
    )
    minute = {"poll_initial": 60.0, "poll_max": 60.0, "callback_poll": 60.0}
    with running_mock(config) as mock:
        env = {
            **fleet_env(tmp_path / "m", mock, str(tmp_path / "shared"), account_concurrency=6,
                        **minute),
            SECRET_ENV: SECRET,
        }  # fmt: skip
        receiver = subprocess.Popen(
            [sys.executable, "-m", "storyboard", "callback-server", "--port", "0",
             "--database", database],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert receiver.stderr is not None
            said = receiver.stderr.readline()
            assert said.startswith("callback receiver on http://127.0.0.1:"), said
            base = said.split()[3].split("/<task>")[0]
            story = storyboard_of(tmp_path / "film", 6)
            with workers(1, database, env, tmp_path, "--concurrency", "6", "--callback-url", base):
                result = render(story, database, env)
                forged = [
                    httpx.post(f"{base}/take:nothing/{'0' * 64}", json={}),  # a wrong token
                    httpx.post(CallbackKey(SECRET.encode()).url(base, "no-such-workflow"), json={}),
                    httpx.get(f"{base}/x/y"),
                ]
        finally:
            receiver.terminate()
            receiver.wait(timeout=30)
        stats = mock.stats()
    assert result.returncode == 0, result.stderr
    # The provider's side of the render: from the first create to the last task the
    # workers heard was finished, against the mock's latency (one wave of 12 s).
    tasks = list(mock.state.tasks.values())
    span = max(mock.state.told_finished.values()) - min(t.created for t in tasks)
    assert len(mock.state.told_finished) == 6 and span <= 1.1 * 12.0, span
    assert [r.status_code for r in forged] == [404, 404, 404]
    assert len(creates(mock)) == 6 and set(creates(mock).values()) == {1}
    assert stats["callback_accepted"] >= 18  # three status changes per task, some twice
    assert stats["status"] <= 6 * 8  # asked when woken, not polled
