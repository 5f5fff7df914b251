"""How close the executor comes to the best possible schedule. Run by hand:
`python bench/schedule.py`.

Against the mock provider with a fixed latency per task (queue + processing),
each case renders a generated storyboard of chains (each scene starts on the
last frame of the one before) and independent scenes with the kirin client,
and compares the run's wall time with the lower bound

    max(longest dependency chain x latency, tasks x latency / jobs)

It also counts the status polls per task at the mock. Target: within 10% of
the bound. A real provider renders on its own machines, so the mock answers
every task with one canned clip instead of rendering (`canned_clip`), leaving
the two cores to the executor; a second bound still uses each task's latency
as the mock measured it, in case anything made a task slower than nominal.
The last case repeats the first with plain geometric backoff
(`poll_fraction = 1`, no learning cap), the schedule most clients use.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from storyboard.animatic.renderer import render_preview
from storyboard.compile.compiler import written_plan
from storyboard.compile.plan import Plan
from storyboard.mock.server import MockConfig, running_mock
from storyboard.pipeline import compile_storyboard
from storyboard.provider import api
from storyboard.provider.profile import ProviderProfile
from storyboard.run.backends.kirin import KirinBackend
from storyboard.run.cache import ClipCache
from storyboard.run.executor import Executor, RunOptions
from storyboard.run.journal import Journal

LATENCY = 3.0  # seconds from create to completed, for every task
# Real tasks take minutes and the default profile polls from 2 s up to 15 s;
# here everything is 20-60x faster, and so is the polling.
PROFILE = ProviderProfile(poll_initial=0.1, poll_max=1.0, poll_fraction=0.1, request_timeout=10)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    chains: int
    chain_length: int
    independent: int
    jobs: int
    profile: ProviderProfile = PROFILE

    @property
    def tasks(self) -> int:
        return self.chains * self.chain_length + self.independent

    def bound(self) -> float:
        return max(self.chain_length * LATENCY, self.tasks * LATENCY / self.jobs)


CASES = [
    Case("3 chains of 3 + 3 free, jobs 4", 3, 3, 3, 4),
    Case("3 chains of 3 + 3 free, jobs 2", 3, 3, 3, 2),
    Case("4 chains of 4 + 8 free, jobs 8", 4, 4, 8, 8),
    Case("1 chain of 6 + 6 free, jobs 4", 1, 6, 6, 4),
    Case(
        "as the first, geometric backoff only",
        3,
        3,
        3,
        4,
        dataclasses.replace(PROFILE, poll_fraction=1.0),
    ),
]


def storyboard(case: Case) -> str:
    lines = ["storyboard: 1", "title: Schedule", 'defaults: {mode: std, aspect_ratio: "16:9"}']
    lines.append("scenes:")
    for c in range(case.chains):
        for k in range(case.chain_length):
            lines.append(f"  - id: c{c}_{k}")
            if k:
                lines.append(f"    first_frame: {{from: c{c}_{k - 1}}}")
            lines += [f'    prompt: "chain {c}, beat {k}"', "    duration: 3"]
    for i in range(case.independent):
        lines += [f"  - id: free{i}", f'    prompt: "independent scene {i}"', "    duration: 3"]
    return "\n".join(lines) + "\n"


def measured_bound(plan: Plan, latency: dict[str, float], jobs: int) -> float:
    """max(longest chain, total / jobs) with the latencies the mock really had."""
    longest: dict[str, float] = {}
    for task in plan.tasks:  # topological order
        before = max((longest[d] for d in task.depends_on), default=0.0)
        longest[task.id] = before + latency[task.id]
    return max(max(longest.values()), sum(latency.values()) / jobs)


def canned_clip(work: Path) -> Path:
    """The one 3 s clip the mock answers with (what a 3 s std 16:9 task returns)."""
    clip = work / "canned.mp4"
    payload = {
        "model": api.MODEL,
        "multi_shot": False,
        "prompt": "canned",
        "duration": "3",
        "mode": "std",
        "aspect_ratio": "16:9",
    }
    render_preview(payload, clip, label="canned", resolve_media=Path)
    return clip


def run_case(case: Case, work: Path, clip: Path) -> tuple[float, float, dict[str, Any]]:
    folder = work / case.name.replace(" ", "_").replace(",", "")
    folder.mkdir()
    story = folder / "storyboard.yaml"
    story.write_text(storyboard(case), encoding="utf-8")
    plan = compile_storyboard(story)
    build = folder / "build"
    _, data = written_plan(plan, build)
    config = MockConfig(queue_seconds=0.5, process_seconds=LATENCY - 0.5, seed=1, canned_clip=clip)
    with running_mock(config) as mock:
        backend = KirinBackend(
            dataclasses.replace(case.profile, base_url=mock.base_url), api_key="sk-bench"
        )
        journal = Journal(build / "journal.sqlite")
        executor = Executor(
            data,
            build,
            backend,
            cache=ClipCache(folder / "cache"),
            journal=journal,
            story_dir=folder,
            options=RunOptions(jobs=case.jobs),
        )

        async def go() -> float:
            async with backend:
                start = time.monotonic()
                report = await executor.run()
                assert report.ok, {t: r.error for t, r in report.results.items() if r.error}
                return time.monotonic() - start

        wall = asyncio.run(go())
        journal.close()
        nominal = config.queue_seconds + config.process_seconds
        by_external = {t.external_task_id: t for t in mock.state.tasks.values()}
        latency = {
            t.id: max(
                nominal,
                (by_external[t.external_task_id].rendered or 0)
                - by_external[t.external_task_id].created,
            )
            for t in data.tasks
        }
        return wall, measured_bound(data, latency, case.jobs), mock.stats()


def main() -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(
        f"latency per task: {LATENCY:g} s; profile: poll_initial {PROFILE.poll_initial:g} s, "
        f"poll_max {PROFILE.poll_max:g} s, poll_fraction {PROFILE.poll_fraction:g}"
    )
    header = (
        f"{'case':<40} {'tasks':>5} {'bound':>7} {'wall':>7} {'ratio':>6} "
        f"{'measured bound':>14} {'ratio':>6} {'polls/task':>10}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        clip = canned_clip(Path(tmp))
        for case in CASES:
            wall, measured, stats = run_case(case, Path(tmp), clip)
            bound = case.bound()
            polls = stats["status"] / case.tasks
            print(
                f"{case.name:<40} {case.tasks:>5} {bound:>6.2f}s {wall:>6.2f}s "
                f"{wall / bound:>6.3f} {measured:>13.2f}s {wall / measured:>6.3f} {polls:>10.2f}"
            )


if __name__ == "__main__":
    main()
