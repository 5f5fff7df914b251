"""The fleet tests' parts: a real PostgreSQL server, storyboard workers as real
processes, and storyboards of independent or chained scenes.

PostgreSQL refuses to run as root: as root, the server's folder belongs to the
`postgres` account (which the Debian package creates) and the server runs as it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_USER = "postgres"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", PG_USER, "--", *argv]


class Postgres:
    """A PostgreSQL server on a free loopback port; a fresh database per `url()`."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self._names = itertools.count(1)

    def url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/sb_{os.getpid()}_{next(self._names)}"


def _pg_bin(name: str) -> str:
    """A PostgreSQL program: on PATH, else where the Debian package keeps it."""
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None:
        pytest.fail(f"PostgreSQL's {name} is not installed (.ci/run installs it)")
    return found


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    folder = Path(tempfile.mkdtemp(prefix="storyboard-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, PG_USER)
    data = folder / "data"
    port = _free_port()
    subprocess.run(
        _as_server_user([_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", PG_USER]),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    )
    start = [
        _pg_bin("pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(folder / "log"),
        "-w",
        "start",
    ]
    subprocess.run(_as_server_user(start), check=True, capture_output=True)
    try:
        yield Postgres(folder, port)
    finally:
        stop = [_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_server_user(stop), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


class Worker:
    """A `storyboard worker` process, started and seen ready."""

    def __init__(self, process: subprocess.Popen[str], log: Path) -> None:
        self.process, self.log = process, log

    def ready(self) -> Worker:
        deadline = time.monotonic() + 60
        while "storyboard worker: worker" not in self.log.read_text(encoding="utf-8"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"the worker did not start:\n{self.said()}")
            time.sleep(0.05)
        return self

    def said(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def workers(
    count: int, database: str, env: dict[str, str], folder: Path, *extra: str
) -> Iterator[list[Worker]]:
    """`count` workers on `database`, each ready (it said so) before the block runs."""
    started = [start_worker(database, env, folder / f"worker{n}.log", *extra) for n in range(count)]
    try:
        for worker in started:
            worker.ready()
        yield started
    finally:
        for worker in started:
            worker.stop()


def start_worker(database: str, env: dict[str, str], log: Path, *extra: str) -> Worker:
    """A worker process, starting (`Worker.ready` waits until it is)."""
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "storyboard", "worker", "--database", database, *extra],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    return Worker(process, log)


def storyboard_of(folder: Path, scenes: int, *, chain: int = 0, seconds: int = 3) -> Path:
    """A storyboard of `scenes` scenes with no assets (any folder can hold it, and
    its requests are the same from every folder); the first `chain` scenes after the
    first each start from the last frame of the one before."""
    lines = [
        "storyboard: 1",
        "title: Fleet test",
        "defaults: {aspect_ratio: '16:9', mode: std}",
        "scenes:",
    ]
    for n in range(1, scenes + 1):
        lines.append(f"  - id: s{n}")
        lines.append(f"    prompt: scene number {n} of the fleet test, a slow pan over hills")
        lines.append(f"    duration: {seconds}")
        if 1 < n <= chain + 1:
            lines.append(f"    first_frame: {{from: s{n - 1}}}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "storyboard.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
