"""A resumed render against a provider that hands out task ids again, through the CLI.

A gateway restarted with an in-memory counter (the mock's `task_ids:
"sequential"`), or another gateway put under the same `cache_source`, answers
for the task ids in our journal with other people's tasks. The resumed render
must treat each such task as lost and make it again under a new external id:
its film holds its own clips, its cache shelf holds its own clips, and the
other storyboard's cache entries stay as they were.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from storyboard.media import probe
from storyboard.mock.server import MockConfig, MockHandle, running_mock
from tests.e2e.test_render import FRAME, check_film, copy_example, run_record, storyboard

KEY = "sk-reuse-test-8e2a"
SHELF = "reused-gateway"  # both mocks serve one cache shelf, as two gateways to one provider
REUSING = MockConfig(queue_seconds=0.05, process_seconds=0.1, task_ids="sequential")


def user_env(tmp_path: Path) -> dict[str, str]:
    profile = tmp_path / "provider.json"
    settings = {"poll_initial": 0.05, "poll_max": 0.25, "cache_source": SHELF}
    profile.write_text(json.dumps(settings), encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KIRIN_", "STORYBOARD_"))}
    return {
        **base,
        "STORYBOARD_CACHE": str(tmp_path / "cache"),
        "STORYBOARD_PROVIDER": str(profile),
        "KIRIN_API_KEY": KEY,
    }


def render_args(story: Path, mock: MockHandle) -> list[str]:
    return ["render", str(story), "--backend", "kirin", "--yes", "--base-url", mock.base_url]


def kill_once_submitted(args: list[str], env: dict[str, str], tasks: int) -> set[str]:
    """Run `storyboard ARGS --json`, SIGKILL it once `tasks` tasks were polled (so
    their remote ids are in the journal); the ids of those tasks."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "storyboard", *args, "--json"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []])
    reader.start()
    polled: set[str] = set()
    deadline = time.monotonic() + 120
    try:
        while len(polled) < tasks:
            assert time.monotonic() < deadline, "the render polled no task in time"
            try:
                event = json.loads(lines.get(timeout=1))
            except queue.Empty:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                continue
            if event["event"] == "task_status":
                polled.add(event["task"])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        reader.join(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return polled


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shelf_files(tmp_path: Path) -> dict[str, str]:
    shelf = tmp_path / "cache" / "clips" / f"kirin-{SHELF}"
    return {str(p.relative_to(shelf)): digest(p) for p in shelf.rglob("*") if p.is_file()}


def test_a_resumed_render_makes_again_the_tasks_a_restarted_provider_gave_away(
    tmp_path: Path,
) -> None:
    env = user_env(tmp_path)
    s1 = copy_example("recipe-square", tmp_path / "s1")
    s2 = copy_example("sneaker-ad", tmp_path / "s2")

    # S1 is sent to provider A, whose tasks never finish; the render is killed.
    never_done = MockConfig(queue_seconds=0.05, process_seconds=600, task_ids="sequential")
    with running_mock(never_done) as a:
        attached = kill_once_submitted(render_args(s1, a), env, tasks=2)
        ids_on_a = {t.task_id for t in a.state.tasks.values()}
    plan1 = json.loads((s1.parent / "build" / s1.stem / "plan.json").read_text(encoding="utf-8"))
    sent = {t["id"]: t["payload"]["external_task_id"] for t in plan1["tasks"]}
    assert attached == {t["id"] for t in plan1["tasks"] if not t["depends_on"]}

    restarted = dataclasses.replace(REUSING, work_dir=tmp_path / "mock-b")  # clips kept
    with running_mock(restarted) as b:  # A restarted: its counter starts again at 1
        result = storyboard(*render_args(s2, b), env=env)
        assert result.returncode == 0, result.stderr
        plan2 = json.loads(
            (s2.parent / "build" / s2.stem / "plan.json").read_text(encoding="utf-8")
        )
        s2_ids = {t["payload"]["external_task_id"] for t in plan2["tasks"]}
        assert ids_on_a <= set(b.state.tasks)  # the premise: S1's task ids are S2's now
        assert {b.state.tasks[i].external_task_id for i in ids_on_a} <= s2_ids
        s2_shelf = shelf_files(tmp_path)

        result = storyboard(*render_args(s1, b), "--json", env=env)
        creates = b.stats()["create_by_external_id"]
        made = {t.external_task_id: t for t in b.state.tasks.values()}

    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    lost = {e["task"]: e["error"] for e in events if e["event"] == "task_lost"}
    assert set(lost) == attached
    for task_id, error in lost.items():
        assert f", we sent {sent[task_id]}: " in error and "reuses task ids" in error
        assert any(f"with external id {other}," in error for other in s2_ids)

    # The tasks given away were made again on B under new ids; the others once, as usual.
    for task_id, ext in sent.items():
        expected = {f"{ext}-r2": 1} if task_id in attached else {ext: 1}
        assert {k: v for k, v in creates.items() if k.startswith(ext)} == expected

    build = s1.parent / "build" / s1.stem
    record = run_record(build)
    check_film(build, plan1)
    shelf = tmp_path / "cache" / "clips" / f"kirin-{SHELF}"
    for task in plan1["tasks"]:
        task_id = task["id"]
        assert record["tasks"][task_id]["attempts"] == (2 if task_id in attached else 1)
        ext = f"{sent[task_id]}-r2" if task_id in attached else sent[task_id]
        clip = build / "clips" / f"{task_id}.mp4"
        ours = made[ext].clip
        assert ours is not None and digest(clip) == digest(ours)  # S1's own clip, byte for byte
        assert abs(probe(clip).duration - task["seconds"]) <= 1.5 * FRAME
        key = task["cache_key"]
        entry: dict[str, Any] = json.loads((shelf / key[:2] / f"{key}.json").read_text("utf-8"))
        assert entry["remote"]["external_task_id"] == ext
        assert digest(shelf / key[:2] / f"{key}.mp4") == digest(ours)
    after = shelf_files(tmp_path)
    assert {name: after.get(name) for name in s2_shelf} == s2_shelf  # S2's entries untouched
