"""SIGTERM interrupts storyboard the way Ctrl-C does.

A service manager, a CI runner cancelling a job and `kill` all send SIGTERM.
Without a handler Python dies on it at once: no message, ffmpeg children left
running, no chance to stop cleanly. With this one, SIGTERM takes the path of
SIGINT: inside `asyncio.run` its handler cancels the run (the journal keeps
what was sent, so the next render re-attaches to it), elsewhere a
KeyboardInterrupt; the CLI prints that it was interrupted and exits with
128 + the signal's number, as a shell reports a process killed by it.

What the interruption left is said with it: the pipeline, which holds the run's
journal, raises `Interrupted` (still a KeyboardInterrupt, so every handler of
Ctrl-C treats it as one) with what is in flight at the provider, what is kept
and which command picks up from there; the CLI prints that after "interrupted".

A SIGINT or SIGTERM inherited ignored stays ignored (a background job started
with `&` ignores SIGINT; `nohup` and friends choose what to ignore).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_received: signal.Signals | None = None


def interrupt_on_sigterm() -> None:
    """Route SIGTERM to the interruption path, unless it was inherited ignored
    (or this is not the main thread, where Python allows no handler)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _received
    _received = signal.SIGTERM
    on_sigint = signal.getsignal(signal.SIGINT)
    # Whatever handles SIGINT now: asyncio's (cancel the run) or Python's default
    # (raise KeyboardInterrupt). With SIGINT ignored, SIGTERM still interrupts.
    if callable(on_sigint):
        on_sigint(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


def interrupted_by() -> signal.Signals:
    """The signal that interrupted the process: SIGTERM if one came, else SIGINT."""
    return _received or signal.SIGINT
