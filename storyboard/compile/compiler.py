"""The compile stage: task specs -> API payloads, identities, costs, the cut.

Pure apart from reading local images (inlined as Base64, R8) and hashing
local videos (their content is part of the cache key), both regular files
read no further than the API's size limits (lint refused anything else). Every payload is
checked against the request schema and the semantic checks before the plan
exists; one that fails is a compiler bug, never written and never sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from storyboard import scratch
from storyboard.compile.references import FrameSource
from storyboard.compile.specs import TaskSpec
from storyboard.errors import CompilerBug, FileTooLarge, InputProblems
from storyboard.language.model import Asset, Storyboard
from storyboard.lint.engine import lint_file
from storyboard.lint.rules.cut import clip_seconds
from storyboard.localfile import open_regular, read_bounded
from storyboard.provider import api
from storyboard.provider.pricing import estimate_cost
from storyboard.provider.request import validate_request

PLAN_VERSION = 1
PLACEHOLDER = re.compile(r"\$\{(task|file):([^}]*)\}")


@dataclass(frozen=True)
class CompiledTask:
    id: str
    scene: str
    part: int
    parts: int
    depends_on: list[str]
    payload: dict[str, Any]
    cache_key: str
    estimated_cost_usd: float
    seconds: float
    shots: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scene": self.scene,
            "part": self.part,
            "parts": self.parts,
            "depends_on": self.depends_on,
            "seconds": self.seconds,
            "shots": self.shots,
            "cache_key": self.cache_key,
            "estimated_cost_usd": self.estimated_cost_usd,
            "payload": self.payload,
        }


class _Inputs:
    """Reads and hashes local media once per compile."""

    def __init__(self, story: Storyboard) -> None:
        self.story = story
        self._b64: dict[Path, str] = {}
        self._sha: dict[Path, str] = {}

    def path(self, asset: Asset) -> Path:
        return (asset.base_dir / (asset.source or "")).resolve()

    def image_url(self, asset: Asset) -> str:
        if asset.is_url:
            return asset.source or ""
        path = self.path(asset)
        if path not in self._b64:
            data = read_bounded(path, api.MAX_IMAGE_BYTES)
            self._b64[path] = base64.b64encode(data).decode("ascii")
        return self._b64[path]

    def file_hash(self, path: Path) -> str:
        if path not in self._sha:
            digest = hashlib.sha256()
            read, limit = 0, api.MAX_VIDEO_BYTES
            with open_regular(path) as fh:
                while block := fh.read(min(1 << 20, limit + 1 - read)):
                    digest.update(block)
                    read += len(block)
            if read > limit:
                raise FileTooLarge(path, read, limit)
            self._sha[path] = digest.hexdigest()
        return self._sha[path]

    def video_url(self, asset: Asset) -> tuple[str, str | None]:
        """(video_url or placeholder, content hash of a local file or None)."""
        if asset.is_url:
            return asset.source or "", None
        path = self.path(asset)
        rel = path.relative_to(self.story.base_dir.resolve()).as_posix()
        digest = self.file_hash(path)
        if self.story.assets_base_url:
            return self.story.assets_base_url + rel, digest
        return f"${{file:{rel}}}", digest


def _frame_url(source: FrameSource, story: Storyboard, inputs: _Inputs) -> str:
    if source.placeholder is not None:
        return source.placeholder
    return inputs.image_url(story.assets[source.asset or ""])


def build_payload(spec: TaskSpec, story: Storyboard, inputs: _Inputs) -> dict[str, Any]:
    """The exact request body of R1-R23 for one task (placeholders included)."""
    scene = spec.scene
    settings = scene.settings
    payload: dict[str, Any] = {"model": settings.model}
    prompts = spec.resolved.prompts
    if len(prompts) > 1:
        payload["multi_shot"] = True
        payload["shot_type"] = api.SHOT_TYPE
        payload["multi_prompt"] = [
            {"index": i, "prompt": text, "duration": str(shot.duration)}
            for i, (shot, text) in enumerate(zip(spec.shots, prompts, strict=True), start=1)
        ]
    else:
        payload["multi_shot"] = False
        payload["prompt"] = prompts[0]
    base_edit = spec.video is not None and spec.video.refer == "base"
    if not base_edit:
        payload["duration"] = str(spec.seconds)
    if spec.resolved.images:
        payload["image_list"] = [
            {
                "image_url": _frame_url(slot.source, story, inputs),
                **({"type": slot.type} if slot.type else {}),
            }
            for slot in spec.resolved.images
        ]
    if spec.resolved.elements:
        payload["element_list"] = [{"element_id": e.element_id} for e in spec.resolved.elements]
    if spec.video is not None:
        payload["video_list"] = [_video_item(spec, story, inputs)]
    payload["sound"] = "on" if settings.sound else "off"
    payload["mode"] = settings.mode
    if not base_edit and not spec.resolved.first_frame:
        payload["aspect_ratio"] = settings.aspect_ratio
    payload["watermark_info"] = {"enabled": settings.watermark}
    return payload


def _video_item(spec: TaskSpec, story: Storyboard, inputs: _Inputs) -> dict[str, Any]:
    ref = spec.video
    assert ref is not None
    if ref.asset is not None:
        asset = story.assets[ref.asset]
        url, _ = inputs.video_url(asset)
        keep = asset.keep_sound if ref.keep_sound is None else ref.keep_sound
    else:
        url = f"${{task:{spec.video_source}:video_url}}"
        source_scene = story.scene(ref.scene or "")
        had_sound = bool(source_scene and source_scene.settings.sound)
        keep = had_sound if ref.keep_sound is None else ref.keep_sound
    return {
        "video_url": url,
        "refer_type": ref.refer,
        "keep_original_sound": "yes" if keep else "no",
    }


def cache_key(payload: dict[str, Any], upstream: dict[str, str], files: list[str]) -> str:
    """SHA-256 of the canonical payload, upstream placeholders replaced by their keys.

    A change upstream therefore changes every key downstream; local videos
    count by content, so replacing a file re-renders what uses it.
    """

    def swap(match: re.Match[str]) -> str:
        kind, body = match.group(1), match.group(2)
        if kind == "task":
            task, _, what = body.partition(":")
            return f"${{key:{upstream[task]}:{what}}}"
        return match.group(0)

    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    canonical = PLACEHOLDER.sub(swap, canonical)
    material = json.dumps({"payload": canonical, "files": sorted(files)}, sort_keys=True)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def external_task_id(key: str) -> str:
    """R23: derived from the cache key, so a resubmission after a crash is found, not paid."""
    return f"sb-{key[:40]}"


@dataclass
class Plan:
    story: Storyboard
    tasks: list[CompiledTask]
    cut: list[dict[str, Any]]

    @property
    def total_cost(self) -> float:
        return round(sum(t.estimated_cost_usd for t in self.tasks), 4)

    @property
    def total_seconds(self) -> float:
        """Output seconds of every task (what is priced; not the film's length)."""
        return sum(t.seconds for t in self.tasks)

    def to_json(self, build_dir: Path) -> dict[str, Any]:
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
            audio = {
                "music": music,
                "volume": a.volume,
                "fade_in": a.fade_in,
                "fade_out": a.fade_out,
                "loop": a.loop,
                "duck": a.duck,
            }
        return {
            "storyboard": _rel(story.path, build_dir),
            "version": PLAN_VERSION,
            "title": story.title,
            "output": _rel(output, build_dir),
            "tasks": [t.to_json() for t in self.tasks],
            "cut": self.cut,
            "audio": audio,
            "film": story.film.to_json(),
            "estimate": {
                "tasks": len(self.tasks),
                "seconds": self.total_seconds,
                "total_usd": self.total_cost,
                "currency": "USD",
                "note": "list prices per output second; the bill is usage.cost",
            },
        }


def _rel(path: Path, build_dir: Path) -> str:
    import os

    return Path(os.path.relpath(path.resolve(), build_dir.resolve())).as_posix()


def compile_specs(story: Storyboard, specs: list[TaskSpec]) -> Plan:
    """Payloads, keys and costs for every spec, in a deterministic topological order."""
    inputs = _Inputs(story)
    by_id = {s.id: s for s in specs}
    graph = nx.DiGraph()
    order = {s.id: i for i, s in enumerate(specs)}
    for spec in specs:
        graph.add_node(spec.id)
        for dep in spec.depends_on:
            graph.add_edge(dep, spec.id)
    if not nx.is_directed_acyclic_graph(graph):
        raise CompilerBug("the task graph has a cycle that lint did not report")
    ordered = list(nx.lexicographical_topological_sort(graph, key=lambda n: order[n]))
    keys: dict[str, str] = {}
    seconds: dict[str, float] = {}
    tasks = []
    for task_id in ordered:
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
        keys[task_id] = key
        payload["external_task_id"] = external_task_id(key)
        length = _task_seconds(spec, story, seconds)
        seconds[task_id] = length
        base_edit = spec.video is not None and spec.video.refer == "base"
        cost = estimate_cost(payload, source_seconds=length if base_edit else None)
        tasks.append(
            CompiledTask(
                id=task_id,
                scene=spec.scene.id,
                part=spec.part,
                parts=spec.parts,
                depends_on=spec.depends_on,
                payload=payload,
                cache_key=key,
                estimated_cost_usd=round(cost, 4),
                seconds=length,
                shots=_shot_marks(spec),
            )
        )
    return Plan(story, tasks, _cut(story, tasks))


def _task_seconds(spec: TaskSpec, story: Storyboard, known: dict[str, float]) -> float:
    if spec.seconds is not None:
        return float(spec.seconds)
    source = spec.video_source
    if source is not None and source in known:
        return known[source]
    length = clip_seconds(story, spec.scene.id)
    return float(length or 0)


def _shot_marks(spec: TaskSpec) -> list[dict[str, Any]]:
    marks, start = [], 0
    for shot in spec.shots:
        marks.append(
            {"index": shot.index, "id": shot.name, "start": start, "duration": shot.duration}
        )
        start += shot.duration or 0
    return marks


def _cut(story: Storyboard, tasks: list[CompiledTask]) -> list[dict[str, Any]]:
    """The film as clip segments: a split scene's parts follow each other with hard
    cuts, and a trim is applied across them."""
    parts: dict[str, list[CompiledTask]] = {}
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
                segments.append(
                    {"task": task.id, "start": round(lo - offset, 6), "end": round(hi - offset, 6)}
                )
            offset += task.seconds
        out.append(
            {
                "scene": entry.scene,
                "trim": list(entry.trim) if entry.trim else None,
                "transition": {
                    "type": entry.transition.type,
                    "duration": entry.transition.duration,
                },
                "segments": segments,
            }
        )
    return out


def compile_storyboard(path: str | Path) -> Plan:
    """Lint, then compile. Raises InputProblems when lint finds errors."""
    result = lint_file(path)
    if result.errors or result.story is None or result.context is None:
        raise InputProblems(result.problems)
    return compile_specs(result.story, result.context.specs)


def write_plan(plan: Plan, build_dir: Path) -> Path:
    """Write plan.json and tasks/<id>.json atomically; stale task files are removed."""
    return written_plan(plan, build_dir)[0]


def written_plan(plan: Plan, build_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Write the plan (as `write_plan`) and return plan.json's path and content: the
    plain JSON the executor and the stitcher work from, without reading it back."""
    build_dir.mkdir(parents=True, exist_ok=True)
    tasks_dir = build_dir / "tasks"
    tasks_dir.mkdir(exist_ok=True)
    wanted = set()
    for task in plan.tasks:
        name = f"{task.id}.json"
        wanted.add(name)
        _write_json(tasks_dir / name, task.payload)
    for old in tasks_dir.glob("*.json"):
        if old.name not in wanted:
            old.unlink()
    path = build_dir / "plan.json"
    text = _write_json(path, plan.to_json(build_dir))
    return path, json.loads(text)


def _write_json(path: Path, data: Any) -> str:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    scratch.atomic_write(path, text)
    return text


def uses_local_video(plan: Plan) -> list[str]:
    """Tasks whose payload names a local file (no assets_base_url): the API cannot read it."""
    return [t.id for t in plan.tasks if "${file:" in json.dumps(t.payload)]
