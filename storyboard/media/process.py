"""Running ffmpeg and every other child process.

ffmpeg is found on PATH, else the binary shipped by the `imageio-ffmpeg`
wheel; `STORYBOARD_FFMPEG` overrides both. A failed run is an `FFmpegError`,
an ffmpeg that cannot be found or started an `EnvironmentProblem`.

Every child process starts in `run_child`, and dies with storyboard: on
Linux the kernel kills it when storyboard dies, even by SIGKILL
(`PR_SET_PDEATHSIG`); an interrupted run stops the ones still running
(`stop_children`). A child sees storyboard's environment without its secrets
(`child_env`): ffmpeg has no use for an API key.

The death signal is asked for by util-linux's `setpriv` where it is there
(`_death_pact`), so that Python starts the child with vfork: a fork of a large
process (a worker, a render with many clips) copies its page tables while it
holds the GIL, some ten milliseconds a child. Elsewhere the child asks for it
itself between fork and exec (`_die_with_parent`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fnmatch
import functools
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from pathlib import Path
from typing import TypeVar

from storyboard.errors import EnvironmentProblem, FFmpegError

FFMPEG_ENV = "STORYBOARD_FFMPEG"


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary to run."""
    override = os.environ.get(FFMPEG_ENV)
    if override:
        if not Path(override).is_file():
            raise EnvironmentProblem(f"{FFMPEG_ENV}={override} is not a file")
        return override
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        raise EnvironmentProblem(
            "ffmpeg not found: install the imageio-ffmpeg wheel or put ffmpeg on PATH"
        ) from exc


# Names of environment variables a child process never sees (matched without
# regard to case): the provider's key and whatever else looks like a credential.
SECRET_NAMES = (
    "KIRIN_API_KEY",
    "*_API_KEY",
    "*_TOKEN",
    "*_SECRET",
    "*_SECRET_*",
    "*PASSWORD",  # PGPASSWORD, DB_PASSWORD
)


def child_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`environ` (default: ours) without the variables `SECRET_NAMES` matches."""
    source = os.environ if environ is None else environ
    return {
        name: value
        for name, value in source.items()
        if not any(fnmatch.fnmatchcase(name.upper(), pattern) for pattern in SECRET_NAMES)
    }


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


# Looked up once, here: the child between fork and exec must not import or load.
_PRCTL = _load_prctl()


def _die_with_parent(parent: int) -> None:
    """In the child, between fork and exec: ask the kernel for SIGKILL when the
    parent goes, then make sure it has not gone already (it may die between the
    fork and this call, and then no signal would ever come).

    The kernel sends PDEATHSIG when the *thread* that forked exits, not the
    process. That is safe here because a child is only ever forked by
    `run_child`, which waits for it in that same thread: the forking thread
    (the main thread for a stitch, an `asyncio.to_thread` worker for a preview
    render) cannot end while the child runs, except by the whole process
    dying, which is exactly when the child must die. A caller that started a
    child and returned without waiting for it would break this; none may.
    The setting survives the exec, so it holds for ffmpeg itself."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


# In the child, once setpriv has asked for the death signal: go on only if the
# parent is still the one that started it (it may have died before the ask, and
# then no signal would ever come). $0 is that parent's pid; "$@" the command.
_STILL_OURS = 'test "$PPID" = "$0" && exec "$@"'


@functools.cache
def _death_pact() -> tuple[str, ...] | None:
    """The words that start a child under `setpriv --pdeathsig KILL`, checking its
    parent, or None where that cannot be had (not Linux, no setpriv, or one too old
    for --pdeathsig: util-linux before 2.33)."""
    setpriv, sh = shutil.which("setpriv"), shutil.which("sh")
    if not sys.platform.startswith("linux") or setpriv is None or sh is None:
        return None
    words = (setpriv, "--pdeathsig", "KILL", "--", sh, "-c", _STILL_OURS)
    try:
        tried = subprocess.run(
            [*words, str(os.getpid()), sh, "-c", "exit 0"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=child_env(),
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return words if tried.returncode == 0 else None


T = TypeVar("T")

TICK = 0.25
"""The longest a wait for a child (or for work that runs one) blocks at a time.
The kernel delivers a process's signal to any of its threads, and Python runs
the handler (Ctrl-C, SIGTERM) only when the main thread next runs Python code:
a main thread blocked in one long wait would not see the signal, and so not
stop, until that wait ended, and a hung child's never ends."""


# The children running now, across threads, and whether the process is on its
# way out (then a new child is killed as soon as it is registered). Set and
# tuple operations are atomic under the GIL: either `stop_children` sees a child
# in the set or `run_child` sees the flag; no lock is needed.
_children: set[subprocess.Popen[bytes]] = set()
_stopping = False
_started: set[str] = set()  # the programs that have started here (by path)


def stop_children() -> None:
    """Kill every child still running, and any started from now on: for a
    process on its way out (interrupted), never one that goes on working.

    Each `run_child` waiting on one then returns (a non-zero exit code), so the
    threads they run in end at once instead of making the interruption wait for
    a render or a stitch to finish."""
    global _stopping
    _stopping = True
    for proc in tuple(_children):
        proc.kill()  # a no-op for one that has exited


def run_child(
    cmd: Sequence[str],
    *,
    timeout: float | None = None,
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `cmd` to its end, capturing its output; the one place a child starts.

    The child gets no stdin, `child_env()`, and dies with us (see
    `_die_with_parent`). On a timeout or any exception here (KeyboardInterrupt
    included) it is killed and reaped before this returns. `on_line`: called with
    each line of its standard output as it comes (ffmpeg's `-progress`), in this
    thread; the lines are not kept."""
    parent = os.getpid()
    # A program's first run here starts the careful way, so that one that cannot
    # run says why (Popen's own OSError); once it has started, by the pact.
    pact = _death_pact() if cmd[0] in _started else None
    with subprocess.Popen(
        [*pact, str(parent), *cmd] if pact else cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
        preexec_fn=None if pact else lambda: _die_with_parent(parent),
    ) as proc:
        _started.add(cmd[0])
        _children.add(proc)
        try:
            if _stopping:  # the process is on its way out: this one never gets going
                proc.kill()
            if on_line is None:
                out, err = _communicate(proc, timeout)
            else:
                out, err = b"", _follow(proc, on_line, timeout)
        except BaseException:
            # Popen's exit does not reap after a KeyboardInterrupt (it assumes the
            # terminal's SIGINT reached the child too): reap it here, it was killed.
            proc.kill()
            proc.wait()
            raise
        finally:
            _children.discard(proc)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _follow(
    proc: subprocess.Popen[bytes], on_line: Callable[[str], None], timeout: float | None
) -> bytes:
    """Hand each line of `proc`'s output to `on_line` until it ends; its stderr.

    Both pipes are read as they fill (a child blocked on a full pipe would never
    end), in short slices: the timeout is kept as `communicate` keeps it, and a
    signal is handled at once (see `TICK`)."""
    assert proc.stdout is not None and proc.stderr is not None
    deadline = None if timeout is None else time.monotonic() + timeout
    errors, pending = bytearray(), b""
    with selectors.DefaultSelector() as pipes:
        pipes.register(proc.stdout, selectors.EVENT_READ)
        pipes.register(proc.stderr, selectors.EVENT_READ)
        while pipes.get_map():
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(proc.args, timeout or 0.0)
            for key, _ in pipes.select(_slice(deadline)):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    pipes.unregister(key.fileobj)
                elif key.fileobj is proc.stderr:
                    errors += chunk
                else:
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        on_line(line.decode("utf-8", "replace").rstrip("\r"))
    if pending:
        on_line(pending.decode("utf-8", "replace").rstrip("\r"))
    _wait(proc, deadline, timeout)
    return bytes(errors)


def _slice(deadline: float | None) -> float:
    """How long one wait may block: a `TICK`, never past the deadline."""
    if deadline is None:
        return TICK
    return max(0.0, min(TICK, deadline - time.monotonic()))


def _wait(proc: subprocess.Popen[bytes], deadline: float | None, timeout: float | None) -> None:
    while True:
        try:
            proc.wait(timeout=_slice(deadline))
            return
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(proc.args, timeout or 0.0) from None


def _communicate(proc: subprocess.Popen[bytes], timeout: float | None) -> tuple[bytes, bytes]:
    """`proc.communicate(timeout)`, in slices of a `TICK` (which it allows: a retry
    loses no output), so that a signal is handled at once."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            out, err = proc.communicate(timeout=_slice(deadline))
            return out, err
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                raise


def awaited(future: Future[T]) -> T:
    """`future.result()`, waited for in slices of a `TICK` (see there). An interrupt
    stops the children still running, which is the work a pool would otherwise
    wait for on its way out."""
    try:
        while not future.done():
            futures_wait([future], timeout=TICK)
    except KeyboardInterrupt:
        stop_children()
        raise
    return future.result()


Progress = Callable[[float], None]
"""Called with how many seconds of its output an ffmpeg run has written so far."""


def run_ffmpeg(
    args: Sequence[str], *, timeout: float | None = None, progress: Progress | None = None
) -> None:
    """Run ffmpeg with `args` (without the program name); raise FFmpegError on failure.

    `progress`: called with the seconds of output written, from ffmpeg's own
    `-progress` report (about twice a second, and once more at the end)."""
    watch: list[str] = ["-progress", "pipe:1", "-nostats"] if progress is not None else []
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *watch, *args]
    on_line = None if progress is None else _out_time(progress)
    try:
        proc = run_child(cmd, timeout=timeout, on_line=on_line)
    except subprocess.TimeoutExpired as exc:
        raise FFmpegError(f"ffmpeg did not finish within {timeout} s") from exc
    except OSError as exc:
        raise EnvironmentProblem(f"cannot run ffmpeg ({cmd[0]}): {exc}") from exc
    if proc.returncode != 0:
        if _stopping:
            raise FFmpegError("ffmpeg stopped: storyboard was interrupted")
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-8:]
        raise FFmpegError(f"ffmpeg exited with {proc.returncode}: " + " | ".join(tail))


def _out_time(progress: Progress) -> Callable[[str], None]:
    """A reader of `-progress` lines (`key=value`) that calls `progress` with each
    `out_time_us` (microseconds, despite `out_time_ms`'s name also meaning them);
    the `N/A` of a run that has written nothing yet is skipped."""

    def on_line(line: str) -> None:
        key, _, value = line.partition("=")
        if key == "out_time_us":
            try:
                micros = int(value)
            except ValueError:
                return
            progress(max(0.0, micros / 1e6))

    return on_line
