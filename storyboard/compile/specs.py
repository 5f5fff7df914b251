"""From scenes to task specs: render prompts, pack shots, resolve references.

Pure: no files, no network. Lint runs this to find what the API would
refuse; the compiler runs the same code and turns the specs into payloads,
so the two can never disagree about what a task is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from storyboard.compile.packing import TaskShape, pack_shots, task_violations
from storyboard.compile.placeholders import Placeholder
from storyboard.compile.references import FrameSource, Resolved, resolve_references
from storyboard.compile.templates import prompt_context, render_prompt
from storyboard.errors import TemplateFailure
from storyboard.language.model import FrameRef, Scene, Shot, Storyboard, VideoRef


@dataclass(frozen=True)
class ShotFailure:
    shot: Shot
    failure: TemplateFailure


@dataclass
class TaskSpec:
    """One API request to be: a scene, or one part of a split scene."""

    id: str
    scene: Scene
    part: int
    parts: int
    shots: list[Shot]
    resolved: Resolved
    video: VideoRef | None
    depends_on: list[str] = field(default_factory=list)
    video_source: str | None = None  # task whose output is the reference video

    @property
    def is_edit(self) -> bool:
        """The task edits its reference video (R15): it lasts as long as the video."""
        return self.video is not None and self.video.is_base

    @property
    def seconds(self) -> int | None:
        """The task's duration; None for a base edit (the source's length)."""
        if self.is_edit:
            return None
        return sum(s.duration or 0 for s in self.shots)

    @property
    def shape(self) -> TaskShape:
        return _shape(self.shots, self.resolved, self.video)


@dataclass
class ScenePlan:
    """How one scene becomes tasks, or why it cannot."""

    scene: Scene
    texts: list[str | None]  # rendered prompt per shot (None: failed)
    failures: list[ShotFailure]
    split: list[tuple[int, int]] | None  # None: no valid split
    whole: list[tuple[str, str]]  # violations of the scene as one task


def scene_context(scene: Scene) -> dict[str, Any]:
    return {
        "id": scene.id,
        "index": scene.index + 1,
        "mode": scene.settings.mode,
        "aspect_ratio": scene.settings.aspect_ratio,
        "sound": scene.settings.sound,
        "shots": len(scene.shots),
        "duration": scene.duration,
    }


def render_scene(story: Storyboard, scene: Scene) -> tuple[list[str | None], list[ShotFailure]]:
    """Render every shot prompt of a scene (the edit prompt counts as one shot)."""
    texts: list[str | None] = []
    failures = []
    names = list(story.assets)
    for shot in scene.shots:
        if shot.prompt is None:
            texts.append(None)
            continue
        ctx = prompt_context(
            story.vars,
            names,
            scene_context(scene),
            {
                "index": shot.index,
                "duration": shot.duration,
                "id": shot.name,
                "count": len(scene.shots),
            },
        )
        try:
            texts.append(render_prompt(shot.prompt, ctx))
        except TemplateFailure as failure:
            texts.append(None)
            failures.append(ShotFailure(shot, failure))
    return texts, failures


def _provisional(ref: FrameRef | None) -> FrameSource | None:
    if ref is None:
        return None
    if ref.asset is not None:
        return FrameSource(asset=ref.asset)
    return FrameSource(placeholder=f"${{scene:{ref.scene}:{ref.frame}_frame}}")


def _shape(shots: list[Shot], resolved: Resolved, video: VideoRef | None) -> TaskShape:
    return TaskShape(
        shots=len(shots),
        seconds=sum(s.duration or 0 for s in shots),
        images=len(resolved.images),
        elements=len(resolved.elements),
        first_frame=resolved.first_frame,
        end_frame=resolved.end_frame,
        has_video=video is not None,
        video_role_elements=sum(1 for e in resolved.elements if e.element_role == "video"),
    )


def _resolve_part(
    story: Storyboard,
    scene: Scene,
    texts: list[str],
    *,
    first: FrameSource | None,
    end: FrameSource | None,
) -> Resolved:
    return resolve_references(
        scene,
        story.assets,
        texts,
        first_frame=first,
        end_frame=end,
        has_video=scene.video is not None,
    )


def plan_scene(story: Storyboard, scene: Scene) -> ScenePlan:
    """Render and pack one scene (with provisional frame placeholders)."""
    texts, failures = render_scene(story, scene)
    safe = [t or "" for t in texts]
    first = _provisional(scene.first_frame)
    end = _provisional(scene.end_frame)
    if scene.is_edit:
        return ScenePlan(scene, texts, failures, [(0, len(scene.shots))], [])
    whole_refs = _resolve_part(story, scene, safe, first=first, end=end)
    whole = task_violations(_shape(scene.shots, whole_refs, scene.video))
    if not whole or not scene.multi or any(s.duration is None for s in scene.shots):
        return ScenePlan(
            scene, texts, failures, [(0, len(scene.shots))] if not whole else None, whole
        )
    n = len(scene.shots)
    continuity = scene.settings.continuity

    def valid(start: int, stop: int) -> bool:
        part_first = (
            first
            if start == 0
            else (FrameSource(placeholder=f"${{part:{start}}}") if continuity else None)
        )
        part_end = end if stop == n else None
        resolved = _resolve_part(story, scene, safe[start:stop], first=part_first, end=part_end)
        return not task_violations(_shape(scene.shots[start:stop], resolved, scene.video))

    split = pack_shots([s.duration or 0 for s in scene.shots], valid)
    return ScenePlan(scene, texts, failures, split, whole)


def task_ids(scene: Scene, parts: int) -> list[str]:
    if parts <= 1:
        return [scene.id]
    return [f"{scene.id}.{i}" for i in range(1, parts + 1)]


def build_specs(story: Storyboard, plans: dict[str, ScenePlan]) -> list[TaskSpec]:
    """Turn packed scenes into task specs with final ids and placeholders.

    Scenes without a valid split, or whose prompts failed to render, are left
    out (lint has reported them); everything else is complete.
    """
    ids = {sid: task_ids(p.scene, len(p.split)) for sid, p in plans.items() if p.split is not None}

    def frame_source(ref: FrameRef | None) -> tuple[FrameSource | None, str | None]:
        if ref is None:
            return None, None
        if ref.asset is not None:
            return FrameSource(asset=ref.asset), None
        target = ids.get(ref.scene or "")
        if not target:
            return None, None
        task = target[0] if ref.frame == "first" else target[-1]
        return FrameSource(placeholder=Placeholder.frame(task, ref.frame).format()), task

    specs: list[TaskSpec] = []
    for sid, plan in plans.items():
        if plan.split is None or plan.failures or sid not in ids:
            continue
        scene = plan.scene
        texts = [t or "" for t in plan.texts]
        first, first_dep = frame_source(scene.first_frame)
        end, end_dep = frame_source(scene.end_frame)
        video_dep = None
        if scene.video is not None and scene.video.scene:
            target = ids.get(scene.video.scene)
            video_dep = target[-1] if target else None
        mine = ids[sid]
        for i, (start, stop) in enumerate(plan.split):
            deps: list[str] = []
            part_first = first if i == 0 else None
            if i > 0 and scene.settings.continuity:
                previous = Placeholder(mine[i - 1], "last_frame")
                part_first = FrameSource(placeholder=previous.format())
                deps.append(mine[i - 1])
            part_end = end if i == len(plan.split) - 1 else None
            if i == 0 and first_dep:
                deps.append(first_dep)
            if part_end is not None and end_dep:
                deps.append(end_dep)
            if video_dep:
                deps.append(video_dep)
            resolved = _resolve_part(
                story, scene, texts[start:stop], first=part_first, end=part_end
            )
            specs.append(
                TaskSpec(
                    id=mine[i],
                    scene=scene,
                    part=i + 1,
                    parts=len(plan.split),
                    shots=scene.shots[start:stop],
                    resolved=resolved,
                    video=scene.video,
                    depends_on=list(dict.fromkeys(deps)),
                    video_source=video_dep,
                )
            )
    return specs


def plan_storyboard(story: Storyboard) -> tuple[dict[str, ScenePlan], list[TaskSpec]]:
    plans = {}
    for scene in story.scenes:
        if scene.id not in plans:
            plans[scene.id] = plan_scene(story, scene)
    return plans, build_specs(story, plans)
