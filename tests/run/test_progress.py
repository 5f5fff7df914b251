"""The three ways a run is shown: a live terminal view, plain lines, JSON events."""

from __future__ import annotations

import io
import json

from rich.console import Console

from storyboard.compile.plan import PlanTask
from storyboard.run.progress import JsonEvents, LiveProgress, PlainProgress

PLAN = tuple(
    PlanTask(
        id=name,
        scene=name,
        part=1,
        parts=1,
        depends_on=(),
        seconds=5.0,
        shots=(),
        cache_key=name,
        estimated_cost_usd=0.5,
        payload={},
    )
    for name in ("arrival", "squall", "night")
)
EVENTS = [
    {"event": "run_started", "tasks": 3, "backend": "kirin"},
    {"event": "task_cached", "task": "arrival"},
    {"event": "task_submitted", "task": "squall", "attempt": 1},
    {"event": "task_status", "task": "squall", "status": "processing"},
    {"event": "task_submitted", "task": "night", "attempt": 1},
    {"event": "task_retry", "task": "night", "attempt": 2, "error": "E1", "delay": 1.5},
]


def test_the_live_view_shows_running_tasks_counts_cost_and_a_bar() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    with LiveProgress(PLAN, console=console) as live:
        for event in EVENTS:
            live(event)
        view = live._view()
        console.print(view)
        live({"event": "task_done", "task": "squall", "cost_usd": 0.42, "duration": 6.0})
        console.print(live._view())
    text = out.getvalue()
    assert "squall" in text and "processing" in text
    assert "night" in text and "retry in 1.5s" in text
    assert "cached 1" in text and "1/3" in text
    assert "done 1" in text and "billed $0.42" in text and "2/3" in text


def test_the_live_view_says_when_the_film_is_being_stitched() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    with LiveProgress(PLAN, console=console) as live:
        live({"event": "stitch_started", "clips": 3})
        console.print(live._view())
        live({"event": "stitch_done", "film": "f.mp4", "duration": 9.0, "method": "copy",
              "seconds": 1.23})  # fmt: skip
        console.print(live._view())
    text = out.getvalue()
    assert "stitching the film from 3 clip(s)" in text and "film stitched (copy) in 1.2s" in text


def test_plain_lines_for_logs_leave_out_status_chatter() -> None:
    out = io.StringIO()
    with PlainProgress(out) as plain:
        for event in EVENTS:
            plain(event)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(EVENTS) - 1  # task_status is too chatty for a log
    assert "task_retry" in lines[-1] and "night" in lines[-1] and "delay=1.5" in lines[-1]


def test_json_events_are_one_object_per_line() -> None:
    out = io.StringIO()
    with JsonEvents(out) as sink:
        for event in EVENTS:
            sink(event)
    parsed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [p["event"] for p in parsed] == [e["event"] for e in EVENTS]
    assert all(isinstance(p["at"], float) for p in parsed)
