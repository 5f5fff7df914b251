"""The three ways a run is shown: a live terminal view, plain lines, JSON events."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from storyboard.compile.plan import PlanTask
from storyboard.run.progress import JsonEvents, LiveProgress, PlainProgress, RenderEta, clock_time

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


class Clock:
    """A clock that moves only when told: the estimates below are exact."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_eta_before_a_take_is_rendered_cached_ones_teach_nothing() -> None:
    clock = Clock()
    eta = RenderEta(11, clock=clock)
    for name in ("a", "b", "c"):  # three from the cache at once: 3 of 11, no rate yet
        eta.finish(name, rendered=False)
    eta.start("d")
    clock.now += 30
    assert eta.remaining() is None  # (the old view said 0:00:01 here)


def test_the_eta_is_the_work_left_at_the_rate_seen_shared_among_the_slots() -> None:
    clock = Clock()
    seconds = {"a": 5.0, "b": 5.0, "c": 10.0, "d": 10.0, "e": 5.0}
    eta = RenderEta(5, seconds, clock)
    eta.start("a")
    eta.start("b")
    clock.now += 50  # a: 5 s of video in 50 s: 10 s of wall per second of video
    eta.finish("a", rendered=True, duration=5.0)
    eta.start("c")
    clock.now += 10
    # b: 50 expected, 60 run: it counts as ending now, so 110 s for 10 s of video (11/s);
    # its own remainder is 0; c: 110 expected, 10 run: 100; queued d and e: 15 s of
    # video, 165 s of work. Two slots: (0 + 100 + 165) / 2 = 132.5, over c's 100.
    assert eta.remaining() == pytest.approx(132.5)
    clock.now += 5
    eta.finish("b", rendered=True, duration=5.0)  # 115 s for 10 s of video: 11.5/s
    # c: 115 expected, 15 run: 100 left; d and e: 15 s of video, 172.5 s: 136.25.
    assert eta.remaining() == pytest.approx(136.25)


def test_the_eta_is_never_less_than_what_a_running_task_still_needs() -> None:
    clock = Clock()
    eta = RenderEta(3, {"a": 2.0, "b": 2.0, "long": 15.0}, clock)
    for name in ("a", "b", "long"):
        eta.start(name)
    clock.now += 20  # 10 s of wall per second of video, from a and b
    eta.finish("a", rendered=True, duration=2.0)
    eta.finish("b", rendered=True, duration=2.0)
    # long: 150 s expected, 20 run; sharing 130 s among 3 slots would say 43 s.
    assert eta.remaining() == pytest.approx(130.0)
    clock.now += 200  # past all it was expected to need: no number means anything
    assert eta.remaining() is None
    eta.finish("long", rendered=True, duration=15.0)
    assert eta.remaining() is None  # nothing left


def test_without_lengths_the_eta_counts_tasks_left() -> None:
    clock = Clock()
    eta = RenderEta(4, clock=clock)  # `render` knows how many takes, not their lengths
    eta.start("a")
    clock.now += 12
    eta.finish("a", rendered=True)
    assert eta.remaining() == pytest.approx(36.0)  # 3 left, 12 s each, one slot
    assert clock_time(3725.4) == "1:02:05"


def test_the_live_view_shows_an_eta_only_once_it_means_something() -> None:
    clock = Clock()
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with LiveProgress(PLAN, console=console, clock=clock) as live:
        live({"event": "task_cached", "task": "arrival"})
        live({"event": "task_submitted", "task": "squall", "attempt": 1})
        clock.now += 30
        console.print(live._view())
        before = out.getvalue()
        clock.now += 10
        live({"event": "task_done", "task": "squall", "cost_usd": 0.5, "duration": 5.0})
        live({"event": "task_submitted", "task": "night", "attempt": 1})
        clock.now += 15
        console.print(live._view())
    assert "2/3" not in before and "1/3" in before and "eta" not in before
    # squall: 5 s of video in 40 s; night, 5 s too, has run 15 of its 40: 25 s left.
    assert "2/3" in out.getvalue() and "eta 0:00:25" in out.getvalue()


def test_the_live_view_says_how_far_the_stitch_is() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    with LiveProgress(PLAN, console=console) as live:
        live({"event": "stitch_started", "clips": 3})
        live({"event": "stitch_progress", "seconds": 12.4, "of": 26.0})
        console.print(live._view())
    text = out.getvalue()
    assert "stitching 12.4 / 26.0 s" in text
    assert "━" in text  # the bar


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
