"""Showing a run: a live view on a terminal, plain lines otherwise, or JSON events.

The executor emits plain event dicts; these sinks only display them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from storyboard.compile.plan import PlanTask

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


class LiveProgress:
    """A live view: a line per running task, an overall bar with ETA, counts and cost."""

    def __init__(self, takes: int | Sequence[PlanTask], console: Console | None = None) -> None:
        """`takes`: how many takes the run settles, or the plan's tasks (all their takes)."""
        from rich.console import Console
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console or Console(stderr=True)
        if isinstance(takes, int):
            self.total = takes
        else:
            self.total = sum(len(t.take_numbers) for t in takes)
        self.running: dict[str, _Running] = {}
        self.counts = {"done": 0, "cached": 0, "failed": 0, "skipped": 0, "unselected": 0}
        self.cost = 0.0
        self.stage = ""  # after the tasks: what the film is going through
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.bar_id = self.bar.add_task("render", total=self.total)
        self.live = Live(self._view(), console=self.console, refresh_per_second=8, transient=False)

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._view())
        self.live.__exit__(None, None, None)

    def _view(self) -> Group:
        from rich.console import Group
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="dim")
        for col in ("task", "state", "elapsed", "attempt"):
            table.add_column(col)
        now = time.monotonic()
        for task_id, info in sorted(self.running.items()):
            table.add_row(task_id, info.state, f"{now - info.start:.1f}s", str(info.attempt))
        c = self.counts
        summary = (
            f"done {c['done']}  cached {c['cached']}  failed {c['failed']}  "
            f"skipped {c['skipped']}  billed ${self.cost:.2f}"
        )
        parts: list[Any] = [table, self.bar, summary]
        if self.stage:
            parts.append(self.stage)
        return Group(*parts)

    def __call__(self, event: dict[str, Any]) -> None:
        kind, task = event.get("event"), event.get("task")
        if task and kind in ("task_submitted", "task_found", "task_reattached"):
            running = self.running.setdefault(task, _Running(time.monotonic()))
            running.attempt = event.get("attempt", running.attempt)
        elif task and kind == "task_status" and task in self.running:
            self.running[task].state = event["status"]
        elif task and kind == "task_retry" and task in self.running:
            self.running[task].state = f"retry in {event['delay']}s"
            self.running[task].attempt = event["attempt"]
        elif task and kind in ("cache_damaged", "cache_unwritable", "task_lost"):
            # Worth a line that stays on the screen: a clip is fetched again, or made again.
            why = event.get("reason") or event.get("error")
            self.console.print(f"[yellow]{task}: {kind.replace('_', ' ')}: {why}[/yellow]")
        elif kind == "stitch_started":
            self.stage = f"stitching the film from {event['clips']} clip(s)..."
        elif kind == "stitch_done":
            self.stage = f"film stitched ({event['method']}) in {event['seconds']:.1f}s"
        elif kind == "film_current":
            self.stage = "film current: nothing it is cut from changed"
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
            self.bar.advance(self.bar_id)
        self.live.update(self._view())
