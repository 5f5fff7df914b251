"""The compile stage: task specs -> the plan (payloads, identities, costs, the cut).

Pure apart from what `payload.Inputs` reads (local images to inline, local
videos to hash). Every payload is checked against the request schema and the
semantic checks before the plan exists; one that fails is a compiler bug,
never written and never sent. Prices come in as a table (the caller loads
it once), so the same storyboard and table always give the same plan.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from storyboard import scratch
from storyboard.compile import placeholders
from storyboard.compile.payload import Inputs, build_payload, cache_key, external_task_id
from storyboard.compile.plan import (
    CutEntry,
    Estimate,
    Plan,
    PlanShot,
    PlanTask,
    Segment,
    TaskGraph,
    dependency_graph,
    total_cost,
)
from storyboard.compile.references import reference_names
from storyboard.compile.specs import TaskSpec
from storyboard.errors import CompilerBug
from storyboard.language.model import Storyboard
from storyboard.language.montage import UNPLACED
from storyboard.language.selection import Chosen, Pick, Selection
from storyboard.language.takes import Take, upstream_identity
from storyboard.provider.pricing import PriceTable, estimate_cost
from storyboard.provider.request import validate_request


@dataclass(frozen=True)
class Compilation:
    """A compiled storyboard: its tasks and cut, and the storyboard they came from
    (its folder and `assets_base_url` are what the executor needs besides the plan).
    `plan(build_dir)` is plan.json for a build directory (its paths are relative
    to it)."""

    story: Storyboard
    tasks: tuple[PlanTask, ...]
    cut: tuple[CutEntry, ...]
    choices: Mapping[str, Chosen] = field(default_factory=dict)  # by task: the take used
    selection: Selection = field(default_factory=Selection)  # the picks it followed

    @property
    def stale_picks(self) -> list[tuple[str, Pick]]:
        """Picks made for an old version of their task: reported, not applied."""
        return [(tid, c.stale) for tid, c in self.choices.items() if c.stale is not None]

    def stale_messages(self) -> list[str]:
        """What `render` and `takes` say about each stale pick, at its line."""
        out = []
        for tid, pick in self.stale_picks:
            where = f"{pick.pos.file}:{pick.pos.line}: " if pick.pos.file else ""
            out.append(
                f"{where}stale pick: {Take(tid, pick.take)} was made for an earlier version "
                f"of {tid}; not applied (the film uses {Take(tid, self.choices[tid].take)})"
            )
        return out

    @property
    def total_cost(self) -> float:
        return total_cost(self.tasks)

    @property
    def total_seconds(self) -> float:
        """Output seconds of every take (what is priced; not the film's length)."""
        return Estimate.of(self.tasks).seconds

    @cached_property
    def graph(self) -> TaskGraph:
        """The task graph, as `Plan.graph` (one function builds both)."""
        return dependency_graph((t.id, t.depends_on) for t in self.tasks)

    def plan(self, build_dir: Path) -> Plan:
        story = self.story
        output = (
            (story.base_dir / story.output).resolve()
            if story.output
            else build_dir.resolve() / f"{story.path.stem}.mp4"
        )
        audio = None
        if story.audio is not None:
            a = story.audio
            music = (
                a.music
                if a.music.startswith(("http://", "https://"))
                else _rel(story.base_dir / a.music, build_dir)
            )
            audio = dataclasses.replace(a, music=music, pos=UNPLACED)
        return Plan(
            storyboard=_rel(story.path, build_dir),
            title=story.title,
            output=_rel(output, build_dir),
            tasks=self.tasks,
            cut=self.cut,
            audio=audio,
            film=story.film,
            estimate=Estimate.of(self.tasks),
        )


def _rel(path: Path, build_dir: Path) -> str:
    return Path(os.path.relpath(path.resolve(), build_dir.resolve())).as_posix()


def compile_specs(
    story: Storyboard,
    specs: list[TaskSpec],
    prices: PriceTable,
    selection: Selection | None = None,
) -> Compilation:
    """Payloads, keys and costs for every spec, in a deterministic topological order.

    `selection`: the picks (`<stem>.takes.yaml`). A task built from an upstream
    task's output is built from its chosen take, and its key says which."""
    inputs = Inputs(story)
    chooser = selection if selection is not None else Selection()
    choices: dict[str, Chosen] = {}
    by_id = {s.id: s for s in specs}
    order = dependency_graph((s.id, s.depends_on) for s in specs).order()
    if order is None:
        raise CompilerBug("the task graph has a cycle that lint did not report")
    keys: dict[str, str] = {}
    requests: dict[str, str] = {}
    seconds: dict[str, float] = {}
    tasks = []
    for task_id in order:
        spec = by_id[task_id]
        payload = build_payload(spec, story, inputs)
        problems = validate_request(payload)
        if problems:
            raise CompilerBug(f"task {task_id}: the compiled payload breaks " + "; ".join(problems))
        files = []
        if spec.video is not None and spec.video.asset is not None:
            asset = story.assets[spec.video.asset]
            _, digest = inputs.video_url(asset)
            if digest:
                files.append(digest)
        key = cache_key(payload, keys, files)
        choice = chooser.choose(task_id, key)
        choices[task_id] = choice
        keys[task_id] = upstream_identity(key, choice.take)
        # The same request built from any take upstream: a re-cut may use its clip
        # until the next render makes it from the picked one.
        request = cache_key(payload, requests, files)
        requests[task_id] = request
        payload["external_task_id"] = external_task_id(key)
        length = _task_seconds(spec, story, seconds)
        seconds[task_id] = length
        base_edit = spec.is_edit
        cost = estimate_cost(payload, source_seconds=length if base_edit else None, prices=prices)
        tasks.append(
            PlanTask(
                id=task_id,
                scene=spec.scene.id,
                part=spec.part,
                parts=spec.parts,
                depends_on=tuple(spec.depends_on),
                seconds=length,
                shots=_shot_marks(spec),
                cache_key=key,
                estimated_cost_usd=round(cost, 4),
                payload=payload,
                takes=spec.scene.settings.takes,
                take=choice.take,
                request_key=request,
                names=reference_names(spec.resolved, spec.video),
            )
        )
    return Compilation(story, tuple(tasks), _cut(story, tasks), choices, chooser)


def _task_seconds(spec: TaskSpec, story: Storyboard, known: dict[str, float]) -> float:
    if spec.seconds is not None:
        return float(spec.seconds)
    source = spec.video_source
    if source is not None and source in known:
        return known[source]
    length = story.clip_seconds(spec.scene.id)
    return float(length or 0)


def _shot_marks(spec: TaskSpec) -> tuple[PlanShot, ...]:
    marks, start = [], 0
    for shot in spec.shots:
        marks.append(PlanShot(shot.index, shot.name, start, shot.duration))
        start += shot.duration or 0
    return tuple(marks)


def _cut(story: Storyboard, tasks: list[PlanTask]) -> tuple[CutEntry, ...]:
    """The film as clip segments: a split scene's parts follow each other with hard
    cuts, and a trim is applied across them."""
    parts: dict[str, list[PlanTask]] = {}
    for task in tasks:
        parts.setdefault(task.scene, []).append(task)
    out = []
    for entry in story.cut:
        scene_tasks = sorted(parts.get(entry.scene, []), key=lambda t: t.part)
        total = sum(t.seconds for t in scene_tasks)
        start, end = entry.trim if entry.trim else (0.0, total)
        segments, offset = [], 0.0
        for task in scene_tasks:
            lo, hi = max(start, offset), min(end, offset + task.seconds)
            if hi > lo:
                segments.append(Segment(task.id, round(lo - offset, 6), round(hi - offset, 6)))
            offset += task.seconds
        trim = entry.trim if entry.trim else None
        out.append(CutEntry(entry.scene, trim, entry.transition, tuple(segments)))
    return tuple(out)


def write_plan(compiled: Compilation, build_dir: Path) -> Path:
    """Write plan.json and tasks/<id>.json atomically; stale task files are removed."""
    return written_plan(compiled, build_dir)[0]


def written_plan(compiled: Compilation, build_dir: Path) -> tuple[Path, Plan]:
    """Write the plan (as `write_plan`) and return plan.json's path and the plan
    the executor and the stitcher work from, without reading it back."""
    build_dir.mkdir(parents=True, exist_ok=True)
    tasks_dir = build_dir / "tasks"
    tasks_dir.mkdir(exist_ok=True)
    wanted = set()
    for task in compiled.tasks:
        name = f"{task.id}.json"
        wanted.add(name)
        _write_json(tasks_dir / name, task.payload)
    for old in tasks_dir.glob("*.json"):
        if old.name not in wanted:
            old.unlink()
    path = build_dir / "plan.json"
    plan = compiled.plan(build_dir)
    _write_json(path, plan.to_json())
    return path, plan


def _write_json(path: Path, data: Any) -> str:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    scratch.atomic_write(path, text)
    return text


def uses_local_video(plan: Compilation | Plan) -> list[str]:
    """Tasks whose payload names a local file (no assets_base_url): the API cannot read it."""
    return [t.id for t in plan.tasks if any(p.is_file for p in placeholders.find(t.payload))]
