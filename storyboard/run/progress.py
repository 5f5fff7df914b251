"""Showing a run: a live view on a terminal, plain lines otherwise, or JSON events.

The executor emits plain event dicts; these sinks only display them.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from storyboard.compile.plan import PlanTask
from storyboard.language.takes import Take

if TYPE_CHECKING:  # rich is loaded by the live view alone: logs and --json never draw
    from rich.console import Console, Group


class JsonEvents:
    """One JSON object per line (`--json`), for scripts and CI."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __enter__(self) -> JsonEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def __call__(self, event: dict[str, Any]) -> None:
        self.stream.write(json.dumps({"at": round(time.time(), 3), **event}) + "\n")
        self.stream.flush()


class PlainProgress:
    """A line per event, for logs and pipes."""

    QUIET = frozenset({"task_status"})

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.start = time.monotonic()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event", "")
        if kind in self.QUIET:
            return
        rest = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("event", "task"))
        task = event.get("task", "")
        elapsed = time.monotonic() - self.start
        self.stream.write(f"[{elapsed:7.1f}s] {kind:<15} {task} {rest}".rstrip() + "\n")
        self.stream.flush()


@dataclass
class _Running:
    """A task in flight, as the live view shows it."""

    start: float
    attempt: int = 1
    state: str = "submitted"


class RenderEta:
    """How long the takes still to settle will take, from the work left and the rate
    seen, or None while that means nothing.

    A take's expected time is its seconds of video (when known; else the mean of
    those seen) at the observed wall time per second of video of the takes rendered
    so far, the ones in flight counted once they have run longer than that rate
    allows (a slow provider shows in them before any of them ends). What is left:
    each in-flight take's expected time less what it has run, and the queued takes'
    whole expected times, shared among as many slots as have been busy at once;
    never less than the longest in-flight remainder. Cached takes cost no time and
    teach no rate: no estimate before the first take is rendered, so that a run
    whose first takes come from the cache is not promised to end in a second.
    """

    def __init__(
        self,
        total: int,
        seconds_of: dict[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.seconds_of = dict(seconds_of or {})  # take label -> seconds of video
        self.clock = clock
        self.started: dict[str, float] = {}  # in flight, since
        self.rendered: list[tuple[float, float]] = []  # (wall seconds, seconds of video)
        self.settled: set[str] = set()
        self.widest = 0  # most takes in flight at once

    def start(self, label: str) -> None:
        if label not in self.started:
            self.started[label] = self.clock()
            self.widest = max(self.widest, len(self.started))

    def finish(self, label: str, *, rendered: bool, duration: float | None = None) -> None:
        """A take settled; `rendered`: made now (its time teaches the rate)."""
        began = self.started.pop(label, None)
        self.settled.add(label)
        if rendered and began is not None:
            # Without a length, a take counts as one unit of work (tasks left, not seconds).
            video = duration or self.seconds_of.get(label) or 1.0
            self.rendered.append((self.clock() - began, video))
        if duration:
            self.seconds_of.setdefault(label, duration)

    def remaining(self) -> float | None:
        """Seconds until every take is settled; None before a take was rendered, once
        nothing is left, or when the takes left have all run past what was expected
        of them (then no number would mean anything)."""
        left = self.total - len(self.settled)
        if not self.rendered or left <= 0:
            return None
        now = self.clock()
        mean_video = _mean([v for _, v in self.rendered])
        per_second = self._per_second(now, mean_video)
        expected = {
            label: per_second * (self.seconds_of.get(label) or mean_video) for label in self.started
        }
        running = [max(0.0, expected[label] - (now - t)) for label, t in self.started.items()]
        known = [
            seconds
            for label, seconds in self.seconds_of.items()
            if label not in self.started and label not in self.settled
        ]
        queued = max(0, left - len(self.started))
        queued_video = sum(known[:queued]) + max(0, queued - len(known)) * mean_video
        slots = max(1, self.widest)
        shared = (sum(running) + per_second * queued_video) / slots
        estimate = max([shared, *running])
        return estimate if estimate > 0 else None

    def _per_second(self, now: float, mean_video: float) -> float:
        """Wall seconds per second of video: the rendered takes', and the in-flight
        ones' that have already run longer than that (as if ending now)."""
        wall = sum(w for w, _ in self.rendered)
        video = sum(v for _, v in self.rendered)
        rate = wall / video
        for label, began in self.started.items():
            seconds = self.seconds_of.get(label) or mean_video
            if now - began > rate * seconds:
                wall, video = wall + (now - began), video + seconds
        return wall / video


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def clock_time(seconds: float) -> str:
    """`h:mm:ss`, as a clock shows a duration."""
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class LiveProgress:
    """A live view: a line per running task, an overall bar with an ETA (`RenderEta`),
    counts and cost, then the stitch's progress."""

    def __init__(
        self,
        takes: int | Sequence[PlanTask],
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`takes`: how many takes the run settles, or the plan's tasks (all their
        takes, whose seconds of video the ETA then knows). `clock`: for tests."""
        from rich.console import Console
        from rich.live import Live
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console or Console(stderr=True)
        self.clock = clock
        seconds: dict[str, float] = {}
        if isinstance(takes, int):
            self.total = takes
        else:
            self.total = sum(len(t.take_numbers) for t in takes)
            seconds = {Take(t.id, n).label: t.seconds for t in takes for n in t.take_numbers}
        self.eta = RenderEta(self.total, seconds, clock)
        self.running: dict[str, _Running] = {}
        self.counts = {"done": 0, "cached": 0, "failed": 0, "skipped": 0, "unselected": 0}
        self.cost = 0.0
        self.stage = ""  # after the tasks: what the film is going through
        self.stitched: tuple[float, float] | None = None  # seconds written, of
        self.lock = threading.Lock()
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=self.console,
        )
        self.bar_id = self.bar.add_task("render", total=self.total, eta="")
        # Drawn afresh at each refresh, not only at each event: the elapsed times and
        # the ETA move while every task waits on the provider.
        self.live = Live(
            get_renderable=self._view, console=self.console, refresh_per_second=8, transient=False
        )

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.refresh()
        self.live.__exit__(None, None, None)

    def _view(self) -> Group:
        with self.lock:
            return self._drawn()

    def _drawn(self) -> Group:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="dim")
        for col in ("task", "state", "elapsed", "attempt"):
            table.add_column(col)
        now = self.clock()
        for task_id, info in sorted(self.running.items()):
            table.add_row(task_id, info.state, f"{now - info.start:.1f}s", str(info.attempt))
        left = self.eta.remaining()
        self.bar.update(self.bar_id, eta="" if left is None else f"eta {clock_time(left)}")
        c = self.counts
        summary = (
            f"done {c['done']}  cached {c['cached']}  failed {c['failed']}  "
            f"skipped {c['skipped']}  billed ${self.cost:.2f}"
        )
        parts: list[Any] = [table, self.bar, summary]
        if self.stitched is not None:
            done, of = self.stitched
            line = Table.grid(padding=(0, 1))
            line.add_row(
                f"stitching {done:.1f} / {of:.1f} s",
                ProgressBar(total=max(of, 1e-9), completed=done, width=40),
            )
            parts.append(line)
        if self.stage:
            parts.append(self.stage)
        return Group(*parts)

    def __call__(self, event: dict[str, Any]) -> None:
        with self.lock:  # the refresh thread draws from what this changes
            note = self._take(event)
        if note:  # printed outside the lock: printing draws the view, which takes it
            self.console.print(note)
        self.live.refresh()

    def _take(self, event: dict[str, Any]) -> str | None:
        """Follow one event; a line worth keeping on the screen, if it is one."""
        kind, task = event.get("event"), event.get("task")
        if task and kind in ("task_submitted", "task_found", "task_reattached", "task_started"):
            running = self.running.setdefault(task, _Running(self.clock()))
            running.attempt = event.get("attempt", running.attempt)
            self.eta.start(task)
        elif task and kind == "task_status" and task in self.running:
            self.running[task].state = event["status"]
        elif task and kind == "task_retry" and task in self.running:
            self.running[task].state = f"retry in {event['delay']}s"
            self.running[task].attempt = event["attempt"]
        elif task and kind in ("cache_damaged", "cache_unwritable", "task_lost"):
            # Worth a line that stays on the screen: a clip is fetched again, or made again.
            why = event.get("reason") or event.get("error")
            return f"[yellow]{task}: {kind.replace('_', ' ')}: {why}[/yellow]"
        elif kind == "stitch_started":
            self.stage = f"stitching the film from {event['clips']} clip(s)..."
        elif kind == "stitch_progress":
            self.stitched = (float(event["seconds"]), float(event["of"]))
            self.stage = ""
        elif kind == "stitch_done":
            self.stitched = None
            self.stage = f"film stitched ({event['method']}) in {event['seconds']:.1f}s"
        elif kind == "film_current":
            self.stage = "film current: nothing it is cut from changed"
        elif kind == "run_interrupted":
            self.stage = _interrupted_line(event)
        elif task and kind in (
            "task_done",
            "task_cached",
            "task_failed",
            "task_skipped",
            "task_unselected",
        ):
            self.running.pop(task, None)
            self.counts[kind.removeprefix("task_")] += 1
            self.cost += float(event.get("cost_usd") or 0)
            self.eta.finish(task, rendered=kind == "task_done", duration=event.get("duration"))
            self.bar.advance(self.bar_id)
        return None


def _interrupted_line(event: dict[str, Any]) -> str:
    """The live view's last word on an interruption (the CLI's message says it whole)."""
    if event.get("stage") == "stitch":
        return f"interrupted while stitching: {event.get('kept', 0)} clip(s) kept"
    flying = len(event.get("in_flight") or [])
    where = f"{flying} in flight at the provider, " if flying else ""
    return f"interrupted: {where}{event.get('kept', 0)} clip(s) kept"
