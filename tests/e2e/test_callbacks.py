"""Provider callbacks end to end, through the real command line.

A render with `--callback-url` receives the mock's notices in its own process
and, with polling slowed to a minute, finishes as soon as the mock's latency
allows; `storyboard callback-server` lets through only verified notices and
hands them on; bad options are one clear line and exit 2.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from storyboard.mock.server import MockConfig, running_mock
from storyboard.run.callbacks import SECRET_ENV, Listen, LocalHub
from tests.conftest import make_video
from tests.e2e.test_render import check_film, storyboard
from tests.receivers import KEY

SECRET = "test-callback-secret-0123456789abcdef"  # the one behind tests.receivers.KEY
SIX = """\
storyboard: 1
title: Six bells
defaults: {mode: std, aspect_ratio: "16:9"}
scenes:
  - {id: one, prompt: "The first bell rings over the harbour", duration: 3}
  - {id: two, prompt: "The second bell rings over the market", duration: 3}
  - {id: three, prompt: "The third bell rings over the hills", duration: 3}
  - {id: four, prompt: "The fourth bell rings over the river", duration: 3}
  - {id: five, prompt: "The fifth bell rings over the fields", duration: 3}
  - {id: six, prompt: "The sixth bell rings over the sea", duration: 3}
"""


def callback_env(env: dict[str, str], root: Path, **profile: Any) -> dict[str, str]:
    """The user's environment with a shared callback secret, a config folder of the
    test's own and, if given, provider profile settings."""
    out = {**env, SECRET_ENV: SECRET, "XDG_CONFIG_HOME": str(root / "config")}
    if profile:
        path = root / "callback-provider.json"
        path.write_text(json.dumps(profile), encoding="utf-8")
        out["STORYBOARD_PROVIDER"] = str(path)
    return out


def latency_bound(tasks: list[dict[str, Any]], jobs: int, per_task: float) -> float:
    """When the plan's last task is done at the earliest, if each takes `per_task`
    seconds at the provider, starts once the tasks it depends on are done, and at most
    `jobs` run at once (list scheduling of the graph)."""
    waiting = {t["id"]: set(t["depends_on"]) for t in tasks}
    running: list[tuple[float, str]] = []
    finished: set[str] = set()
    clock = 0.0
    while waiting or running:
        for task_id in sorted(t for t, deps in waiting.items() if deps <= finished):
            if len(running) < jobs:
                del waiting[task_id]
                heapq.heappush(running, (clock + per_task, task_id))
        clock, done = heapq.heappop(running)
        finished.add(done)
    return clock


def test_latency_bound_follows_the_graph_and_the_concurrency() -> None:
    free = [{"id": str(i), "depends_on": []} for i in range(6)]
    assert latency_bound(free, 3, 5.0) == 10.0 and latency_bound(free, 6, 5.0) == 5.0
    chain = [{"id": "a", "depends_on": []}, {"id": "b", "depends_on": ["a"]}]
    assert latency_bound(chain + free[:2], 3, 1.0) == 2.0
    assert latency_bound(chain + free[:2], 1, 1.0) == 4.0


def test_with_callbacks_a_six_task_render_finishes_at_the_mock_s_pace(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Polling slowed to a minute: only the callbacks can make this render quick.

    The bound is fair to both sides. Every task takes the mock's queue + process
    seconds (10 s) from its create (a canned clip: no rendering to wait for),
    and the plan's graph at --jobs 3 needs two such waves for six tasks: 20 s.
    From the first create to the moment the client heard the last task was
    finished (as the mock saw it: its first "completed" answer for each) must be
    within 1.1x that. The 2 s left cover the creates of each wave and hearing of
    each end; downloading and decoding the clips, which callbacks cannot
    shorten, are left out of the measure (a slot is free again once its task is
    finished).
    The whole command, start-up and stitch included, gets 20 s more: still far
    below a single fallback poll.
    """
    story = tmp_path / "six" / "storyboard.yaml"
    story.parent.mkdir()
    story.write_text(SIX, encoding="utf-8")
    canned = make_video(tmp_path / "canned.mp4", size="320x240", seconds=3)
    config = MockConfig(queue_seconds=1.0, process_seconds=9.0, canned_clip=canned)
    jobs = 3
    minute = {"poll_initial": 60.0, "poll_max": 60.0, "callback_poll": 60.0}
    user = callback_env(env, tmp_path, **minute)
    build = story.parent / "build" / story.stem
    with running_mock(config) as mock:
        started = time.monotonic()
        result = storyboard(
            "render", str(story), "--backend", "kirin", "--yes", "--base-url", mock.base_url,
            "--jobs", str(jobs), "--json", "--callback-url", "http://127.0.0.1:0/hooks",
            env=user, timeout=120,
        )  # fmt: skip
        wall = time.monotonic() - started
        stats = mock.stats()
        payloads = [t.payload for t in mock.state.tasks.values()]
        first_create = min(t.created for t in mock.state.tasks.values())
        told = dict(mock.state.told_finished)
    assert result.returncode == 0, result.stderr
    plan = json.loads((build / "plan.json").read_text(encoding="utf-8"))
    assert len(plan["tasks"]) == 6
    bound = latency_bound(plan["tasks"], jobs, config.queue_seconds + config.process_seconds)
    assert bound == 20.0  # two waves of three
    # The provider's side of the run: from the first create to the moment the client
    # heard the last task was finished (the mock notes when it first answered
    # "completed" for each): only the callbacks can make that near the bound.
    span = max(told.values()) - first_create
    assert len(told) == 6 and span <= 1.1 * bound, span
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert next(e for e in events if e["event"] == "run_finished")["ok"]
    assert wall <= 1.1 * bound + 20.0
    check_film(build, plan)

    # Each task was called back three times and asked about only a few times more.
    assert stats["max_concurrent_seen"] == jobs and stats["create"] == 6
    assert stats["callback_accepted"] == 18 and stats["status"] <= 6 * 4
    # The tokens travelled to the provider only: never into the build, the output or a log.
    tokens = {p["callback_url"].rsplit("/", 1)[1] for p in payloads}
    assert {KEY.token(p["external_task_id"]) for p in payloads} == tokens
    said = result.stdout + result.stderr
    files = [p for p in build.rglob("*") if p.is_file()]
    assert files and not [t for t in tokens if t in said]
    for path in files:
        data = path.read_bytes()
        assert not [t for t in tokens if t.encode() in data], path
        assert SECRET.encode() not in data, path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--callback-url", "http://127.0.0.1:0/cb"], "needs --backend kirin"),
        (["--backend", "kirin", "--callback-listen", "127.0.0.1:0"], "needs --callback-url"),
        (["--backend", "kirin", "--callback-url", "127.0.0.1:9/cb"], "http:// or https://"),
        (["--backend", "kirin", "--callback-url", "https://hooks.example.com/cb"],
         "--callback-listen"),
        (
            ["--backend", "kirin", "--callback-url", "http://127.0.0.1:9/cb",
             "--callback-listen", "9"],
            "HOST:PORT",
        ),
    ],
    ids=["preview", "listen-alone", "not-a-url", "public-without-listen", "bad-listen"],
)  # fmt: skip
def test_callback_options_that_cannot_work_are_one_clear_line(
    args: list[str], message: str, tmp_path: Path, env: dict[str, str]
) -> None:
    story = tmp_path / "six" / "storyboard.yaml"
    story.parent.mkdir()
    story.write_text(SIX, encoding="utf-8")
    result = storyboard(
        "render", str(story), "--yes", "--base-url", "http://127.0.0.1:9", *args,
        env=callback_env(env, tmp_path),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "config").exists()  # refused before any key was made


def test_a_key_file_others_can_read_stops_the_render_before_anything_is_sent(
    tmp_path: Path, env: dict[str, str]
) -> None:
    story = tmp_path / "six" / "storyboard.yaml"
    story.parent.mkdir()
    story.write_text(SIX, encoding="utf-8")
    key = tmp_path / "config" / "storyboard" / "callback.key"
    key.parent.mkdir(parents=True)
    key.write_text("a" * 64 + "\n")
    key.chmod(0o644)
    user = {k: v for k, v in callback_env(env, tmp_path).items() if k != SECRET_ENV}
    with running_mock(MockConfig()) as mock:
        result = storyboard(
            "render", str(story), "--backend", "kirin", "--yes", "--base-url", mock.base_url,
            "--callback-url", "http://127.0.0.1:0/cb", env=user,
        )  # fmt: skip
        assert mock.stats()["total"] == 0
    assert result.returncode == 2 and "chmod 600" in result.stderr
    assert "a" * 64 not in result.stderr and "Traceback" not in result.stderr


def test_the_callback_server_lets_through_only_verified_notices(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The standalone receiver in front, a render's hub behind it (here, the test's):
    a notice with its task's token arrives; a wrong one is a 404 and never forwarded;
    SIGTERM stops it with a line, no traceback."""
    user = callback_env(env, tmp_path)

    async def scenario() -> dict[str, Any]:
        hub = LocalHub(KEY, "http://127.0.0.1:0/behind", listen=Listen("127.0.0.1", 0))
        async with hub:
            server = subprocess.Popen(
                [sys.executable, "-m", "storyboard", "callback-server", "--port", "0",
                 "--prefix", "/public", "--forward", hub.base_url],
                env=user, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            try:
                assert server.stderr is not None
                first = await asyncio.to_thread(server.stderr.readline)
                assert first.startswith("callback receiver on http://127.0.0.1:"), first
                front = first.split(" on ", 1)[1].split("/<task>", 1)[0]
                assert front.endswith("/public")
                hub.url_for("sb-1")
                async with httpx.AsyncClient(timeout=10) as client:
                    post = client.post
                    said: dict[str, Any] = {
                        "valid": (await post(KEY.url(front, "sb-1"), json={"n": 1})).status_code,
                        "wrong token": (await post(f"{front}/sb-1/{'f' * 64}")).status_code,
                        "unknown task": (await post(KEY.url(front, "sb-2"))).status_code,
                        "GET": (await client.get(KEY.url(front, "sb-1"))).status_code,
                    }
                said["handed on"] = await hub.wait_notice("sb-1", 5)
                said["then"] = await hub.wait_notice("sb-1", 0)
            finally:
                server.send_signal(signal.SIGTERM)
                _, err = await asyncio.to_thread(server.communicate, timeout=30)
            said["exit"], said["stderr"] = server.returncode, err
        return said

    said = asyncio.run(scenario())
    assert {k: said[k] for k in ("valid", "wrong token", "unknown task", "GET")} == {
        "valid": 200,
        "wrong token": 404,
        "unknown task": 404,  # the render's hub knows no such task: passed back
        "GET": 404,
    }
    assert said["handed on"] == {"n": 1} and said["then"] is None
    assert said["exit"] == 128 + signal.SIGTERM and "Traceback" not in said["stderr"]
    assert KEY.token("sb-1") not in said["stderr"]


def test_the_callback_server_refuses_a_bad_forward_address(
    tmp_path: Path, env: dict[str, str]
) -> None:
    result = storyboard(
        "callback-server", "--port", "0", "--forward", "nowhere", env=callback_env(env, tmp_path)
    )
    assert result.returncode == 2 and "--forward must be an http://" in result.stderr
    assert "Traceback" not in result.stderr
    missing = storyboard("callback-server", env=callback_env(env, tmp_path))
    assert missing.returncode == 2 and "--forward" in missing.stderr
