"""Signals and leftovers, with real processes and real signals.

SIGTERM stops a render or a stitch the way Ctrl-C does (a message, exit code
128 + 15, the journal kept for the next run); the ffmpeg storyboard started
dies with it, whether storyboard was stopped by SIGTERM or killed by SIGKILL;
no ffmpeg sees a secret of storyboard's environment; and the next run
removes what a killed one left behind.

ffmpeg is a wrapper script (`STORYBOARD_FFMPEG`) that logs each run's pid and
arguments and dumps its environment, then execs the real ffmpeg. While a
`hang` file names a string found in a run's arguments, that run creates its
partial film (as a run that has started writing has) and execs a real ffmpeg
that works for an hour instead. The tests wait for that process to show in
/proc, never for a length of time.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storyboard import scratch
from storyboard.media import ffmpeg_exe

DEADLINE = 60.0  # seconds for any awaited state: generous, never what a pass is measured by
HANG_MARK = "nullsrc=s=16x16:r=1:d=3600"

STORY = """\
storyboard: 1
title: Signals
defaults: {mode: std, aspect_ratio: "16:9", sound: false}
scenes:
  - {id: first, prompt: "A quiet street at dawn", duration: 3}
  - {id: second, prompt: "A harbour at noon", duration: 3}
  - {id: after, first_frame: {from: first}, prompt: "The same street, later", duration: 3}
cut: [first, second, after]
"""

WRAPPER = """\
#!/bin/sh
echo "$$ $*" >> "{dir}/runs.log"
env > "{dir}/env.$$"
if [ -s "{dir}/hang" ]; then
    case "$*" in
        *"$(cat "{dir}/hang")"*)
            for arg; do
                case "$arg" in *.partial-*.mp4) : > "$arg" ;; esac
            done
            exec "{real}" -nostdin -hide_banner -loglevel error -re \\
                -f lavfi -i {hang} -f null -
            ;;
    esac
fi
exec "{real}" "$@"
"""

# How the CLI is started: as a user's foreground process (SIGINT raises
# KeyboardInterrupt) or as a shell's background job (SIGINT inherited ignored).
PRELUDE = {
    "foreground": "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)",
    "background": "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)",
}
LAUNCH = "; import sys; from storyboard.cli import main; sys.argv[0] = 'storyboard'; main()"


class Ffmpeg:
    """The wrapper's folder: its log of runs, its environment dumps, its `hang` file."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        folder.mkdir()
        self.exe = folder / "ffmpeg"
        self.exe.write_text(WRAPPER.format(dir=folder, real=ffmpeg_exe(), hang=HANG_MARK))
        self.exe.chmod(0o755)

    def hang_on(self, text: str | None) -> None:
        (self.dir / "hang").write_text(text or "", encoding="utf-8")

    def runs(self) -> list[tuple[int, str]]:
        log = self.dir / "runs.log"
        lines = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
        return [(int(pid), args) for pid, _, args in (line.partition(" ") for line in lines)]

    def hanging(self, proc: subprocess.Popen[str]) -> int:
        """The pid of the hanging ffmpeg once it runs (its command line in /proc)."""
        deadline = time.monotonic() + DEADLINE
        while True:
            for pid, _ in self.runs():
                if HANG_MARK in _cmdline(pid) and _alive(pid):
                    return pid
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"no ffmpeg hung: {self.runs()}"
            time.sleep(0.02)

    def environments(self) -> list[str]:
        return [p.read_text(encoding="utf-8") for p in sorted(self.dir.glob("env.*"))]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """Does `pid` run? A zombie (killed, not yet reaped by whoever adopted it) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _gone(pid: int) -> bool:
    """Wait (bounded) for `pid` to stop running; True if it did."""
    deadline = time.monotonic() + DEADLINE
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture
def ffmpeg(tmp_path: Path) -> Iterator[Ffmpeg]:
    wrapper = Ffmpeg(tmp_path / "ffmpeg")
    yield wrapper
    while STARTED:  # what a failing test left running: storyboard, an hour-long ffmpeg
        proc = STARTED.pop()
        proc.kill()
        proc.communicate()
    for pid, _ in wrapper.runs():
        if HANG_MARK in _cmdline(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def env(tmp_path: Path, ffmpeg: Ffmpeg) -> dict[str, str]:
    """A user's shell: a private clip cache, its own temp folder, the wrapper as ffmpeg."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KIRIN_", "STORYBOARD_"))}
    (tmp_path / "tmp").mkdir()
    return {
        **base,
        "STORYBOARD_CACHE": str(tmp_path / "cache"),
        "STORYBOARD_FFMPEG": str(ffmpeg.exe),
        "TMPDIR": str(tmp_path / "tmp"),
    }


@pytest.fixture
def story(tmp_path: Path) -> Path:
    path = tmp_path / "film" / "storyboard.yaml"
    path.parent.mkdir()
    path.write_text(STORY, encoding="utf-8")
    return path


def storyboard(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storyboard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def start(*args: str, env: dict[str, str], sigint: str = "foreground") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE[sigint] + LAUNCH, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    STARTED.append(proc)
    return proc


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def external_id(build: Path, task: str) -> str:
    plan = json.loads((build / "plan.json").read_text(encoding="utf-8"))
    return next(t["payload"]["external_task_id"] for t in plan["tasks"] if t["id"] == task)


@pytest.mark.parametrize("sigint", ["foreground", "background"])
def test_sigterm_stops_a_render_as_ctrl_c_does_and_the_next_render_resumes(
    sigint: str, story: Path, env: dict[str, str], ffmpeg: Ffmpeg
) -> None:
    build = story.parent / "build" / story.stem
    assert storyboard("compile", str(story), env=env).returncode == 0
    ffmpeg.hang_on(external_id(build, "after"))  # its preview: it starts once `first` is done
    proc = start("render", str(story), "--json", env=env, sigint=sigint)
    hung = ffmpeg.hanging(proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "storyboard: interrupted (SIGTERM)" in err and "Traceback" not in err
    assert _gone(hung), "the render's ffmpeg outlived it"
    done = {e["task"] for e in events(out) if e["event"] == "task_done"}
    assert "first" in done and "after" not in done
    # What the money is doing: the preview draws here, so nothing runs on elsewhere.
    assert "nothing was in flight at a provider" in err
    assert f"{len(done)} clip(s) done are kept" in err
    assert f"the next `storyboard render {story}`" in err

    ffmpeg.hang_on(None)
    again = storyboard("render", str(story), "--json", env=env)
    assert again.returncode == 0, again.stderr
    rendered = {e["task"] for e in events(again.stdout) if e["event"] == "task_done"}
    assert rendered == {"first", "second", "after"} - done  # nothing done is done again
    record = json.loads((build / "run.json").read_text(encoding="utf-8"))
    assert {t for t, r in record["tasks"].items() if r["status"] == "cached"} == done
    assert record["film"] is not None
    # The stitch showed how far it was, a few times, up to the film's length.
    stitched = [e for e in events(again.stdout) if e["event"] == "stitch_progress"]
    assert 1 <= len(stitched) <= 10
    assert [e["seconds"] for e in stitched] == sorted(e["seconds"] for e in stitched)
    assert stitched[-1]["seconds"] == stitched[-1]["of"] == round(record["film"]["duration"], 2)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_stitch_takes_its_ffmpeg_along_and_the_next_leaves_nothing_behind(
    how: signal.Signals, tmp_path: Path, story: Path, env: dict[str, str], ffmpeg: Ffmpeg
) -> None:
    build = story.parent / "build" / story.stem
    assert storyboard("render", str(story), env=env).returncode == 0
    # A cut edit, so that the stitch cuts the film again (an unchanged one is current).
    text = story.read_text(encoding="utf-8")
    story.write_text(text.replace("cut: [first, second, after]", "cut: [second, first, after]"))
    ffmpeg.hang_on(".partial-")  # the run that writes the film
    proc = start("stitch", str(story), env=env)
    hung = ffmpeg.hanging(proc)
    dead = proc.pid
    assert (build / f".storyboard.partial-{dead}.mp4").is_file()
    proc.send_signal(how)
    _, err = proc.communicate(timeout=DEADLINE)
    if how == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "storyboard: interrupted (SIGTERM)" in err and "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert _gone(hung), f"ffmpeg {hung} outlived storyboard ({how.name})"

    ffmpeg.hang_on(None)
    again = storyboard("stitch", str(story), env=env)
    assert again.returncode == 0, again.stderr
    left = [p for p in build.rglob("*") if ".partial-" in p.name or f"-{dead}" in p.name]
    assert left == []
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing of a stitch in the temp folder


def test_ffmpeg_never_sees_a_secret_of_storyboards_environment(
    story: Path, env: dict[str, str], ffmpeg: Ffmpeg
) -> None:
    secrets = {
        "KIRIN_API_KEY": "sk-test-secret",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
        "AWS_SESSION_TOKEN": "aws-session-value",
        "GITHUB_TOKEN": "ghp-token-value",
        "OPENAI_API_KEY": "sk-other-value",
        "PGPASSWORD": "pg-password-value",
        "WEBHOOK_SECRET": "webhook-secret-value",
    }
    result = storyboard("render", str(story), env={**env, **secrets, "SIGNALS_MARK": "kept"})
    assert result.returncode == 0, result.stderr
    dumps = ffmpeg.environments()
    assert len(dumps) >= 4  # three previews and the film, at least
    for dump in dumps:
        assert "SIGNALS_MARK=kept" in dump  # the rest of the environment is passed on
        assert not [name for name, value in secrets.items() if value in dump]


SLEEPER = """\
from storyboard.media.process import _death_pact, run_child
assert _death_pact() is not None, "no setpriv with --pdeathsig on this machine"
run_child(["sleep", "0"])  # a program's first run starts the careful way
print("ready", flush=True)
run_child(["sleep", "3600"])  # the next by vfork, under setpriv's death signal
"""


def _children_of(parent: int) -> dict[int, str]:
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii", errors="replace").rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found[int(stat.parent.name)] = _cmdline(int(stat.parent.name)).strip()
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_started_by_vfork_dies_with_its_parent_killed() -> None:
    from storyboard.media.process import _death_pact

    pact = _death_pact()
    assert pact is not None
    # The child goes on only under the parent that started it: named another, it ends.
    assert subprocess.run([*pact, "1", "true"], capture_output=True).returncode == 1
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        deadline = time.monotonic() + DEADLINE
        while not (sleeper := [p for p, c in _children_of(proc.pid).items() if c == "sleep 3600"]):
            assert time.monotonic() < deadline, _children_of(proc.pid)
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.communicate(timeout=DEADLINE)
    if not _gone(sleeper[0]):
        os.kill(sleeper[0], signal.SIGKILL)
        pytest.fail("the sleep outlived the process that started it")


def test_a_sweep_removes_only_what_dead_processes_left(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: its pid names no process
    dead, live = child.pid, os.getppid()
    names = {
        f".film.partial-{dead}.mp4": True,
        f".film.work-{dead}": True,
        f".clip.partial-{dead}.1f2e.mp4": True,
        f".film.partial-{live}.mp4": False,
        f".film.partial-{os.getpid()}.mp4": False,
        "film.mp4": False,
        ".film.partial-x.mp4": False,
    }
    for name in names:
        path = tmp_path / "task" / name
        path.parent.mkdir(exist_ok=True)
        if name.endswith(f"work-{dead}"):
            path.mkdir()
            (path / "thumbs.png").write_bytes(b"")
        else:
            path.write_bytes(b"")
    assert scratch.sweep(tmp_path) == []  # not recursive: the task folder is not looked in
    removed = scratch.sweep(tmp_path, recursive=True)
    assert sorted(p.name for p in removed) == sorted(n for n, gone in names.items() if gone)
    assert sorted(p.name for p in (tmp_path / "task").iterdir()) == sorted(
        n for n, gone in names.items() if not gone
    )


def test_a_render_interrupted_during_its_stitch_says_stitch_finishes_the_film(
    story: Path, env: dict[str, str], ffmpeg: Ffmpeg
) -> None:
    build = story.parent / "build" / story.stem
    ffmpeg.hang_on(".storyboard.partial-")  # the run that writes the film, none before it
    proc = start("render", str(story), "--json", env=env)
    hung = ffmpeg.hanging(proc)
    clips = {p.name: p.read_bytes() for p in (build / "clips").iterdir()}
    assert len(clips) == 3
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "Traceback" not in err
    assert "while stitching the film: its 3 clip(s) are all rendered and kept" in err
    assert f"`storyboard stitch {story}` finishes the film" in err
    assert _gone(hung)
    seen = [e["event"] for e in events(out)]
    assert seen[-2:] == ["stitch_started", "run_interrupted"]
    record = json.loads((build / "run.json").read_text(encoding="utf-8"))
    assert record["state"] == "interrupted" and record["film"] is None  # never "stitching"
    assert {r["status"] for r in record["tasks"].values()} == {"done"}
    assert {p.name: p.read_bytes() for p in (build / "clips").iterdir()} == clips
    assert list(build.glob("*.mp4")) == []  # no film, whole or half written

    ffmpeg.hang_on(None)
    again = storyboard("stitch", str(story), env=env)
    assert again.returncode == 0, again.stderr
    assert (build / "storyboard.mp4").is_file()


def test_an_interrupted_kirin_render_names_what_is_in_flight_and_the_next_pays_nothing_twice(
    tmp_path: Path, story: Path, env: dict[str, str]
) -> None:
    from storyboard.mock.server import MockConfig, running_mock

    profile = tmp_path / "provider.json"
    profile.write_text(json.dumps({"poll_initial": 0.05, "poll_max": 0.2}), encoding="utf-8")
    env = {**env, "KIRIN_API_KEY": "sk-signals-test", "STORYBOARD_PROVIDER": str(profile)}
    # Long enough that the two tasks sent first are still rendering when the signal
    # comes (sent once both are seen submitted); `after` waits for `first`.
    slow = MockConfig(queue_seconds=0.1, process_seconds=1.5, render_workers=2)
    with running_mock(slow) as mock:
        args = ["render", str(story), "--backend", "kirin", "--yes", "--base-url", mock.base_url]
        proc = start(*args, "--json", env=env)
        assert proc.stdout is not None
        submitted: set[str] = set()
        for line in proc.stdout:  # the events as they come; the run hangs on nothing
            event = json.loads(line)
            if event["event"] == "task_submitted":
                submitted.add(event["task"])
            assert event["event"] != "task_done", "a task finished before the signal"
            if submitted == {"first", "second"}:
                break
        while mock.stats()["create"] < 2:  # the creates reached the provider
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=DEADLINE)
        assert proc.returncode == 128 + signal.SIGINT, err
        assert "Traceback" not in err
        assert (
            "2 task(s) in flight at the provider (first, second) keep rendering there and "
            "may be billed; the next `storyboard render"
        ) in err
        assert "picks them up without paying twice; 0 clip(s) done are kept" in err, err

        again = storyboard(*args, "--json", env=env)
        assert again.returncode == 0, again.stderr
        resumed = [e for e in events(again.stdout) if e["event"] == "task_submitted"]
        assert [e["task"] for e in resumed] == ["after"]  # first and second were picked up
        assert all(n == 1 for n in mock.stats()["create_by_external_id"].values())


def _tgkill(pid: int, tid: int, how: signal.Signals) -> None:
    """Send `how` to one thread of `pid` (Linux's tgkill): the kernel may deliver a
    process's signal to any of its threads, and this makes it one that is not main."""
    libc = ctypes.CDLL(None, use_errno=True)
    sys_tgkill = {"x86_64": 234, "aarch64": 131}.get(platform.machine())
    if sys_tgkill is None:
        pytest.skip(f"tgkill's number on {platform.machine()} is not known here")
    assert libc.syscall(sys_tgkill, pid, tid, int(how)) == 0, ctypes.get_errno()


def test_a_signal_that_lands_on_another_thread_still_stops_the_stitch(
    story: Path, env: dict[str, str], ffmpeg: Ffmpeg
) -> None:
    """SIGTERM delivered to a worker thread while the main thread waits on the film's
    ffmpeg: Python runs the handler only in the main thread, so a wait that never
    returned (as `communicate` with no timeout did) left the stitch running forever;
    every wait for a child is now a short slice, and the stitch stops at once."""
    build = story.parent / "build" / story.stem
    assert storyboard("render", str(story), env=env).returncode == 0
    text = story.read_text(encoding="utf-8")
    story.write_text(text.replace("cut: [first, second, after]", "cut: [second, first, after]"))
    ffmpeg.hang_on(".partial-")
    proc = start("stitch", str(story), env=env)
    hung = ffmpeg.hanging(proc)
    others = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
    assert others, "the stitch runs its side work in threads"
    _tgkill(proc.pid, others[0], signal.SIGTERM)
    _, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "storyboard: interrupted (SIGTERM)" in err and "Traceback" not in err
    assert _gone(hung)
    assert list(build.glob(".storyboard.partial-*")) == []  # no half-written film left
