"""`storyboard render --watch` end to end: a real process, real saves, real signals.

The watcher runs as a user starts it, and the test reads its output as it comes
(a reader thread per stream). Every wait is for a line the process prints, with a
generous deadline that only catches a hang; no sleep decides an outcome.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from storyboard.mock.server import MockHandle

DEADLINE = 60.0  # seconds for any awaited line: a hang guard, never what a pass is measured by

STORY = """\
storyboard: 1
title: Watch
defaults: {mode: std, aspect_ratio: "16:9", sound: false}
scenes:
  - {id: first, prompt: "A quiet street at dawn", duration: 3}
  - {id: second, prompt: "A harbour at noon", duration: 3}
cut: [first, second]
"""

# As a user's foreground process: Ctrl-C raises KeyboardInterrupt, whatever the
# test runner's own SIGINT disposition (a background job inherits it ignored).
LAUNCH = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from storyboard.cli import main; sys.argv[0] = 'storyboard'; main()"
)


class Watcher:
    """`storyboard render --watch` running, its output lines gathered as they come."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "render", *args, "--watch"],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.proc.stdout, self.proc.stderr)
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def until(self, pattern: str) -> list[str]:
        """The lines printed up to the first that matches `pattern` (a regex), that one included."""
        deadline = time.monotonic() + DEADLINE
        got: list[str] = []
        while not got or not re.search(pattern, got[-1]):
            left = deadline - time.monotonic()
            assert left > 0, f"no line like {pattern!r} in time; saw:\n" + "\n".join(self.seen)
            try:
                got.append(self.lines.get(timeout=min(left, 0.5)))
            except queue.Empty:
                ended = self.proc.poll() is not None and not any(r.is_alive() for r in self.readers)
                assert not ended, f"exited {self.proc.returncode}; saw:\n" + "\n".join(self.seen)
                continue
            self.seen.append(got[-1])
        return got

    def settled(self, outcome: str) -> list[str]:
        """The lines of one pass: up to "watching N files" and a line like `outcome`
        (the film's, on stdout, may come before or after the watching line on stderr)."""
        got = self.until(r"^watching \d+ files")
        if not any(re.search(outcome, line) for line in got):
            got += self.until(outcome)
        return got

    def stop(self, how: signal.Signals) -> tuple[int, str]:
        """Send `how`, wait for the exit; its code and everything it printed."""
        self.proc.send_signal(how)
        code = self.proc.wait(timeout=DEADLINE)
        for reader in self.readers:  # they end at the end of their pipe
            reader.join(timeout=DEADLINE)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, "\n".join(self.seen)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def story(tmp_path: Path) -> Path:
    path = tmp_path / "film" / "storyboard.yaml"
    path.parent.mkdir()
    path.write_text(STORY, encoding="utf-8")
    return path


@pytest.fixture
def started() -> Iterator[list[Watcher]]:
    """Watchers a test starts: killed at the end if a failing test left them running."""
    watchers: list[Watcher] = []
    yield watchers
    for watcher in watchers:
        watcher.kill()


def film_state(path: Path) -> tuple[int, str]:
    return path.stat().st_ino, hashlib.sha256(path.read_bytes()).hexdigest()


def record(build: Path) -> dict[str, Any]:
    return json.loads((build / "run.json").read_text(encoding="utf-8"))


def test_a_saved_prompt_renders_its_task_alone_and_recuts_the_film(
    story: Path, env: dict[str, str], started: list[Watcher]
) -> None:
    build = story.parent / "build" / story.stem
    film = build / "storyboard.mp4"
    watcher = Watcher(str(story), env=env)
    started.append(watcher)
    first = watcher.settled(r"^film: ")
    assert any("2 rendered, 0 cached" in line for line in first), first
    before = film_state(film)

    story.write_text(STORY.replace("at noon", "at dusk, in the rain"), encoding="utf-8")
    second = watcher.settled(r"^film: ")
    summary = next(line for line in second if line.startswith("film: "))
    assert "1 rendered, 1 cached" in summary, second
    run = record(build)
    assert (run["totals"]["rendered"], run["totals"]["cached"]) == (1, 1)
    assert run["tasks"]["second"]["status"] == "done"
    assert run["tasks"]["first"]["status"] == "cached"
    after = film_state(film)
    assert after[1] != before[1], "the film was not re-cut"
    written = (build / "run.json").read_bytes()

    story.write_text(STORY.replace("duration: 3}\n  - {id: second", "duration: 3\n  - {"), "utf-8")
    broken = watcher.settled(r"^waiting for a fix")
    assert any(re.search(r"storyboard\.yaml:\d+:\d+: SB001 YAML syntax error", x) for x in broken)
    assert any(x.startswith("waiting for a fix") for x in broken), broken
    assert not any("run_started" in x or x.startswith("film: ") for x in broken), broken
    assert (build / "run.json").read_bytes() == written  # nothing ran
    assert film_state(film) == after

    story.write_text(STORY.replace("at noon", "at dusk, in the rain"), encoding="utf-8")
    fixed = watcher.settled(r"^film: ")
    assert any("0 rendered, 2 cached" in x for x in fixed if x.startswith("film: ")), fixed

    code, printed = watcher.stop(signal.SIGINT)
    assert code == 0, printed
    assert "stopped watching" in printed.splitlines()
    assert "Traceback" not in printed


def test_kirin_spends_within_max_cost_without_asking_and_a_pass_over_it_is_refused(
    story: Path, env: dict[str, str], mock: MockHandle, started: list[Watcher]
) -> None:
    """$0.25 a task here: two are over --max-cost 0.30 (refused, nothing sent, still
    watching); one is under, and renders with no --yes and no terminal to ask on; then
    a second one is over what that left of the watch's budget."""
    watcher = Watcher(
        str(story), "--backend", "kirin", "--base-url", mock.base_url, "--max-cost", "0.30",
        env=env,
    )  # fmt: skip
    started.append(watcher)
    refused = watcher.settled(r"over --max-cost")
    assert "storyboard: $0.50 is over --max-cost $0.30; nothing was sent" in refused, refused
    assert mock.state.tasks == {}

    story.write_text(STORY.replace("cut: [first, second]", "cut: [first]").replace(
        '  - {id: second, prompt: "A harbour at noon", duration: 3}\n', ""), "utf-8")  # fmt: skip
    within = watcher.settled(r"^film: ")
    assert any(x.startswith("film: ") and "1 rendered" in x for x in within), within
    assert len(mock.state.tasks) == 1
    assert any("this watch has spent $0.25 of --max-cost $0.30" in x for x in within), within

    # --max-cost holds for the whole watch: the second task ($0.25) is over what is left.
    story.write_text(STORY, "utf-8")
    refused = watcher.settled(r"over --max-cost")
    assert "storyboard: $0.25 is over --max-cost $0.05; nothing was sent" in refused, refused
    assert len(mock.state.tasks) == 1

    code, printed = watcher.stop(signal.SIGTERM)
    assert code == 0, printed
    assert "stopped watching" in printed and "Traceback" not in printed


@pytest.mark.parametrize(
    ("args", "prelude", "said"),
    [
        (
            ["--backend", "kirin"],
            "",
            "storyboard: --watch with --backend kirin needs --max-cost",
        ),
        (
            [],
            "import sys; sys.modules['watchfiles'] = None; ",  # as if it were not installed
            "storyboard: --watch needs the watchfiles package: pip install 'storyboard[watch]'",
        ),
        (["--force", "first"], "", "storyboard: --force cannot be used with --watch"),
    ],
    ids=["kirin-without-max-cost", "without-watchfiles", "force"],
)
def test_a_watch_that_cannot_start_says_why_in_one_line(
    args: list[str], prelude: str, said: str, story: Path, env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", prelude + LAUNCH, "render", str(story), "--watch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(said), result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (story.parent / "build" / story.stem).exists()  # nothing was rendered
