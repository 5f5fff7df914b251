"""The edit to export: the film's cut as rendered, with everything an editor is owed.

`gather_edit` reads a build the way `storyboard stitch` does (every clip the
chosen take, as rendered: `recut.gather_clips` refuses anything else) and
normalises the cut once with the stitcher's own `plan_cut`, so that the
exported timeline and the film share one arithmetic, frame for frame. Each
clip comes with what the timeline's markers and metadata say of it: its task
and take, the prompt of each shot as sent, what it cost, its cache key and
provider ids, and the other takes of its task. Plain data: no OTIO here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from storyboard.compile.plan import Plan, PlanTask
from storyboard.errors import ExportError, ProbeError
from storyboard.film.cut import Audio
from storyboard.film.cutplan import CutPlan, clip_frames, plan_cut
from storyboard.film.graph import FPS
from storyboard.language.montage import Transition
from storyboard.media import probe
from storyboard.recut import cut_clips, film_options, gather_clips
from storyboard.review.gather import TakeRow, Workspace, take_rows
from storyboard.run.journal import TaskRecord, existing_journal

if TYPE_CHECKING:
    from storyboard.compile.compiler import Compilation


@dataclass(frozen=True)
class ShotNote:
    """A shot of a clip: where it is (frames from the clip's first kept frame) and
    what was asked of it."""

    label: str  # "arrival · shot 2", as the contact sheet says
    scene: str
    shot: int  # its number in the scene
    shot_id: str | None
    start: int
    frames: int
    prompt: str  # as sent (the API's tokens, not the author's names)


@dataclass(frozen=True)
class EditClip:
    """One clip of the cut: the piece of the film it is and what made it."""

    task: PlanTask
    path: Path
    trim: tuple[int, int]  # frames of the clip the film uses: [start, end)
    media_frames: int  # frames the file holds
    has_audio: bool
    transition: Transition  # into it
    film_start: int  # the film frame where it begins
    shots: tuple[ShotNote, ...]
    record: TaskRecord | None  # the journal's record of its take
    takes: tuple[TakeRow, ...]  # every take of its task (the chosen one among them)

    @property
    def cost_usd(self) -> float | None:
        """What its take cost when it was rendered (None: not recorded)."""
        if self.record is not None and self.record.cost_usd is not None:
            return self.record.cost_usd
        row = next((t for t in self.takes if t.take == self.task.take), None)
        return row.cost_usd if row is not None else None

    @property
    def external_task_id(self) -> str:
        return self.task.take_external_id(self.task.take)

    @property
    def provider_task_id(self) -> str | None:
        remote = self.record.remote if self.record is not None else None
        task_id = remote.get("task_id") if remote else None
        return str(task_id) if task_id is not None else None


@dataclass(frozen=True)
class MusicBed:
    path: Path
    media_frames: int
    audio: Audio


@dataclass(frozen=True)
class Edit:
    """The film as an editor would cut it: its clips, its music and its length."""

    title: str
    storyboard: Path
    film: Path
    clips: tuple[EditClip, ...]
    cut: CutPlan
    music: MusicBed | None
    source: str  # the backend's cache shelf the clips come from

    @property
    def frames(self) -> int:
        return self.cut.frames

    @property
    def size(self) -> tuple[int, int]:
        return self.cut.size


def _frames(seconds: float) -> int:
    return round(seconds * FPS)


def _prompts(task: PlanTask) -> list[str]:
    """Each shot's prompt as sent, in the task's shot order."""
    payload = task.payload
    if isinstance(payload.get("prompt"), str):
        return [payload["prompt"]] * len(task.shots)
    shots = [s for s in payload.get("multi_prompt") or [] if isinstance(s, dict)]
    return [str(s.get("prompt", "")) for s in shots]


def _shot_notes(task: PlanTask, trim: tuple[int, int], held: int) -> list[ShotNote]:
    """The shots of the clip that the trim keeps, from its first kept frame; a shot
    of no stated length (a base edit's) lasts to the clip's end."""
    notes = []
    for shot, prompt in zip(task.shots, _prompts(task), strict=False):
        first = _frames(shot.start)
        last = first + _frames(shot.duration) if shot.duration is not None else held
        start, end = max(first, trim[0]), min(last, trim[1])
        if end <= start:  # trimmed away
            continue
        notes.append(
            ShotNote(
                label=f"{task.id} · shot {shot.index}",
                scene=task.scene,
                shot=shot.index,
                shot_id=shot.id,
                start=start - trim[0],
                frames=end - start,
                prompt=prompt,
            )
        )
    return notes


def _music(plan: Plan, build_dir: Path) -> MusicBed | None:
    if plan.audio is None:
        return None
    path = (build_dir / plan.audio.music).resolve()
    try:
        info = probe(path)
    except ProbeError as exc:
        raise ExportError(f"music {plan.audio.music}: {exc}") from exc
    seconds = info.audio_duration or info.duration
    if not info.has_audio or seconds <= 0:
        raise ExportError(f"music {path} has no sound")
    return MusicBed(path, _frames(seconds), plan.audio)


def gather_edit(compiled: Compilation, story_path: Path, build_dir: Path) -> Edit:
    """The edit of the film rendered in `build_dir` (refused, with what to run, when
    a clip of the cut is missing or was rendered from another version)."""
    plan = compiled.plan(build_dir)
    found = gather_clips(plan, build_dir)
    clips = cut_clips(plan, build_dir)
    cut = plan_cut(clips, film_options(plan.film).size)
    workspace = Workspace.open(story_path, build_dir).for_plan(plan)
    tasks = [plan.task(seg.task) for entry in plan.cut for seg in entry.segments]  # clip order
    edit_clips = []
    with existing_journal(build_dir / "journal.sqlite") as journal:
        pieces = zip(tasks, clips, cut.pieces, cut.infos, cut.starts, strict=True)
        for task, clip, piece, info, film_start in pieces:
            trim = (piece.start, piece.start + piece.frames)
            held = clip_frames(info)
            edit_clips.append(
                EditClip(
                    task=task,
                    path=clip.path.resolve(),
                    trim=trim,
                    media_frames=held,
                    has_audio=info.has_audio,
                    transition=clip.transition,
                    film_start=film_start,
                    shots=tuple(_shot_notes(task, trim, held)),
                    record=journal.get(task.chosen.label) if journal is not None else None,
                    takes=tuple(take_rows(task, workspace, journal, compiled.selection)),
                )
            )
    return Edit(
        title=plan.title,
        storyboard=story_path.resolve(),
        film=(build_dir / plan.output).resolve(),
        clips=tuple(edit_clips),
        cut=cut,
        music=_music(plan, build_dir),
        source=", ".join(found.sources) or workspace.cache.source,
    )
