"""Many storyboards, many workers, one account: how close the engine comes to the
account's limit. Run by hand: `python bench/scale.py` (needs PostgreSQL's
initdb and pg_ctl; as root, the `postgres` account runs the server).

Forty storyboards of six tasks each (a chain of three and three free scenes)
are enqueued at once, as forty `render --detach` would, into one engine on a
PostgreSQL server of the benchmark's own; four `storyboard worker` processes,
up to eight takes at a time each, render them against the mock provider, every
task 3 s of latency, with an account limit of 16 (which holds the four to 16 in
all: more than its share per worker lets a slot that frees go to whichever
worker asks first, not only to the one that freed it). The bound is

    max(tasks x latency / limit, longest chain x latency) = 240 x 3 / 16 = 45 s

and the wall time is from the first enqueue to the last take settled (the
films' stitching is not in it: it is the one-machine pipeline, benchmarked in
bench/stitch.py). As in bench/schedule.py, the mock answers every task with
one canned clip, leaving the two cores to the workers. Target: within 15%
of the bound. Also shown: the most tasks the mock had at once (never above
the limit), and the creates per task (one).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from storyboard.animatic.renderer import render_preview
from storyboard.compile.compiler import written_plan
from storyboard.fleet.coordinator import Coordinator
from storyboard.fleet.engine import open_client
from storyboard.fleet.jobs import plan_jobs
from storyboard.mock.server import MockConfig, running_mock
from storyboard.pipeline import compile_storyboard
from storyboard.provider import api
from storyboard.provider.profile import load_profile
from storyboard.run.backends.kirin import provider_source
from storyboard.run.cache import ClipCache
from storyboard.run.units import plan_units

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
CALLBACKS = "--callbacks" in sys.argv  # the workers woken by the provider's notices (R22)
STORYBOARDS = int(ARGS[0]) if ARGS else 40  # another count, to explore
CHAIN, FREE = 3, 3
WORKERS, PER_WORKER, LIMIT = 4, 8, 16
LATENCY = 3.0
PROFILE = {"poll_initial": 0.1, "poll_max": 1.0, "poll_fraction": 0.1, "account_concurrency": LIMIT}


def storyboard(n: int) -> str:
    lines = ["storyboard: 1", f"title: Episode {n}", 'defaults: {mode: std, aspect_ratio: "16:9"}']
    lines.append("scenes:")
    for k in range(CHAIN):
        lines.append(f"  - id: beat{k}")
        if k:
            lines.append(f"    first_frame: {{from: beat{k - 1}}}")
        lines += [f'    prompt: "episode {n}, beat {k}"', "    duration: 3"]
    for i in range(FREE):
        lines += [
            f"  - id: free{i}",
            f'    prompt: "episode {n}, free scene {i}"',
            "    duration: 3",
        ]
    return "\n".join(lines) + "\n"


def canned_clip(work: Path) -> Path:
    clip = work / "canned.mp4"
    payload = {
        "model": api.MODEL, "multi_shot": False, "prompt": "canned",
        "duration": "3", "mode": "std", "aspect_ratio": "16:9",
    }  # fmt: skip
    render_preview(payload, clip, label="canned", resolve_media=Path)
    return clip


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _pg(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None:
        sys.exit(f"{name} not found: install PostgreSQL")
    return found


def start_postgres(folder: Path) -> tuple[str, Path]:
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = folder / "data"
    subprocess.run(_as_postgres([_pg("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=300"
    subprocess.run(_as_postgres([_pg("pg_ctl"), "-D", str(data), "-o", options, "-l",
                                 str(folder / "log"), "-w", "start"]),
                   check=True, capture_output=True)  # fmt: skip
    return f"postgresql://postgres@127.0.0.1:{port}/scale", data


def main() -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="storyboard-scale-"))
    pg_folder = Path(tempfile.mkdtemp(prefix="storyboard-scale-pg-"))
    url, data = start_postgres(pg_folder)
    config = MockConfig(
        queue_seconds=0.5, process_seconds=LATENCY - 0.5, seed=1, canned_clip=canned_clip(tmp)
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with running_mock(config) as mock:
            (tmp / "provider.json").write_text(json.dumps(PROFILE), encoding="utf-8")
            own = ("KIRIN_", "STORYBOARD_")
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(own)},
                "KIRIN_API_KEY": "sk-bench", "KIRIN_BASE_URL": mock.base_url,
                "STORYBOARD_PROVIDER": str(tmp / "provider.json"),
                "STORYBOARD_CACHE": str(tmp / "shared-cache"),
                "XDG_CACHE_HOME": str(tmp / "home"),
            }  # fmt: skip
            os.environ.update(env)
            client = open_client(url)
            notices: list[str] = []
            if CALLBACKS:
                env["STORYBOARD_CALLBACK_SECRET"] = "bench-callback-secret-0123456789"
                receiver = subprocess.Popen(
                    [sys.executable, "-m", "storyboard", "callback-server", "--port", "0",
                     "--database", url],
                    env=env, stderr=subprocess.PIPE, text=True,
                )  # fmt: skip
                processes.append(receiver)  # type: ignore[arg-type]
                assert receiver.stderr is not None
                base = receiver.stderr.readline().split()[3].split("/<task>")[0]
                notices = ["--callback-url", base]
            for n in range(WORKERS):
                log = (tmp / f"worker{n}.log").open("wb")
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "storyboard", "worker", "--database", url,
                     "--concurrency", str(PER_WORKER), *notices],
                    env=env, stdout=log, stderr=subprocess.STDOUT,
                ))  # fmt: skip
            for n in range(WORKERS):
                while b"storyboard worker: worker" not in (tmp / f"worker{n}.log").read_bytes():
                    time.sleep(0.1)
            shelf = ClipCache(tmp / "shared-cache").for_source(provider_source(load_profile()))
            coordinators = []
            for n in range(STORYBOARDS):
                folder = tmp / f"episode{n}"
                folder.mkdir()
                (folder / "storyboard.yaml").write_text(storyboard(n), encoding="utf-8")
                compiled = compile_storyboard(folder / "storyboard.yaml")
                _, plan = written_plan(compiled, folder / "build")
                units = plan_units(plan, shelf, None)
                jobs = plan_jobs(plan, units, shelf, story_dir=folder, assets_base_url=None)
                coordinators.append(Coordinator(client, jobs))
            start = time.monotonic()
            for coordinator in coordinators:
                coordinator.enqueue()
            for coordinator in coordinators:
                states = coordinator.follow(lambda event: None)
                bad = [
                    s.words() for s in states.values() if (s.result or {}).get("status") != "done"
                ]
                assert not bad, bad
            wall = time.monotonic() - start
            tasks = STORYBOARDS * (CHAIN + FREE)
            bound = max(tasks * LATENCY / LIMIT, CHAIN * LATENCY)
            made = mock.stats()["create_by_external_id"]
            print(f"{STORYBOARDS} storyboards x {CHAIN + FREE} tasks, {WORKERS} workers x "
                  f"{PER_WORKER}, account limit {LIMIT}, latency {LATENCY:g} s"
                  + (", callbacks" if CALLBACKS else ""))  # fmt: skip
            print(
                f"tasks {tasks}  bound {bound:.2f} s  wall {wall:.2f} s  ratio {wall / bound:.3f}"
            )
            most = mock.stats()["max_concurrent_seen"]  # counted by the mock at each create
            per_task = sorted(set(made.values()))
            print(f"most at once at the mock: {most} (limit {LIMIT}); "
                  f"creates per task: {per_task}; tasks made {len(made)}")  # fmt: skip
            client.destroy()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        subprocess.run(_as_postgres([_pg("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(pg_folder, ignore_errors=True)


if __name__ == "__main__":
    main()
