"""Every take of every task, gathered from where takes leave traces.

A take is known when the plan needs it (`take_numbers`), when the cache shelf
holds it, when the journal recorded it, or when the selection file speaks of
it (`made`). Its status comes from the most solid trace: a sound shelf entry
is `kept`, an entry whose bytes changed is `damaged`, else the journal says
`in flight` (sent, not done) or `failed`, a clip in the build with a finished
record is `kept` too, and anything else is `planned` (needed, not made yet).

Everything here reads; nothing is written and nothing is sent.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from storyboard.compile.compiler import Compilation
from storyboard.compile.placeholders import Placeholder
from storyboard.compile.plan import Plan, PlanTask
from storyboard.language.selection import Selection, selection_path
from storyboard.language.takes import Take
from storyboard.run.backends import backend_source, backend_variants
from storyboard.run.cache import CacheEntry, ClipCache, DamagedEntry, open_cache
from storyboard.run.journal import Journal, TaskRecord, existing_journal, record_key
from storyboard.run.units import UNFINISHED

Status = Literal["kept", "in flight", "failed", "planned", "damaged"]
# The first bytes of the Base64 of each image type the API takes.
_MAGIC = {"/9j/": "image/jpeg", "iVBOR": "image/png", "R0lG": "image/gif", "UklGR": "image/webp"}


@dataclass(frozen=True)
class Workspace:
    """Where one storyboard's takes live: its file, its build and one cache shelf."""

    story_path: Path
    build_dir: Path
    cache: ClipCache
    backend: str

    @property
    def selection_path(self) -> Path:
        return selection_path(self.story_path)

    def for_plan(self, plan: Plan) -> Workspace:
        """This workspace with its shelf as the backend sees it for `plan` (the
        preview's clips also depend on their cards' notes: `Backend.variants`)."""
        variants = backend_variants(self.backend, plan)
        return dataclasses.replace(self, cache=self.cache.for_source(self.cache.source, variants))

    @classmethod
    def open(
        cls,
        story_path: Path,
        build_dir: Path,
        *,
        backend: str | None = None,
        base_url: str | None = None,
        cache: str | os.PathLike[str] | None = None,
    ) -> Workspace:
        """`backend` None: the one the build's run.json recorded (and the cache shelf
        it recorded, so that no base URL is needed to look at a kirin build), else
        preview. `cache`: where the clip cache is (`open_cache`)."""
        recorded, shelf = recorded_backend(build_dir)
        if backend is None and recorded is not None:
            name = recorded
            source = shelf if shelf is not None else backend_source(name, base_url)
        else:
            name = backend or "preview"
            source = backend_source(name, base_url)
        return cls(story_path, build_dir, open_cache(cache).for_source(source), name)


def recorded_backend(build_dir: Path) -> tuple[str | None, str | None]:
    """The backend the build's last run used, and the cache shelf it recorded."""
    try:
        data = json.loads((build_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    name, shelf = data.get("backend"), data.get("cache_source")
    return (
        name if name in ("preview", "kirin") else None,
        shelf if isinstance(shelf, str) and shelf else None,
    )


@dataclass(frozen=True)
class Reference:
    """A reference image of a request, as the page can show it: `path` a local
    file (a frame of an upstream take, a published asset's local original),
    `data` a Base64 image inlined in the payload; `text` what the payload says."""

    role: str
    text: str
    path: Path | None = None
    data: bytes | None = None
    media_type: str = "image/jpeg"

    @property
    def shown(self) -> bool:
        return self.path is not None or self.data is not None


@dataclass(frozen=True)
class TakeRow:
    task: str
    take: int
    status: Status
    seconds: float | None
    cost_usd: float | None
    verdict: str | None
    note: str | None
    picked: bool
    clip: Path | None

    @property
    def address(self) -> str:
        return Take(self.task, self.take).address

    @property
    def label(self) -> str:
        return Take(self.task, self.take).label

    @property
    def paid(self) -> bool:
        return self.status != "planned"

    def to_json(self) -> dict[str, object]:
        return {
            "task": self.task,
            "take": self.take,
            "address": self.address,
            "status": self.status,
            "seconds": self.seconds,
            "cost_usd": self.cost_usd,
            "verdict": self.verdict,
            "note": self.note,
            "picked": self.picked,
            "clip": str(self.clip) if self.clip is not None else None,
        }


@dataclass(frozen=True)
class TaskTakes:
    task: PlanTask
    prompts: tuple[str, ...]
    references: tuple[Reference, ...]
    takes: tuple[TakeRow, ...]

    def row(self, take: int) -> TakeRow | None:
        return next((r for r in self.takes if r.take == take), None)


@dataclass(frozen=True)
class Block:
    """One entry of the cut on the film's time line (seconds)."""

    scene: str
    start: float
    duration: float


@dataclass(frozen=True)
class Review:
    title: str
    plan: Plan
    film: Path | None
    timeline: tuple[Block, ...]
    tasks: tuple[TaskTakes, ...]
    stale: tuple[str, ...] = ()  # what to warn about: picks made for an old version
    problems: tuple[str, ...] = field(default=())

    @property
    def rows(self) -> list[TakeRow]:
        return [row for task in self.tasks for row in task.takes]

    @property
    def spent_usd(self) -> float:
        return round(sum(r.cost_usd or 0.0 for r in self.rows if r.paid), 4)

    @property
    def film_usd(self) -> float:
        return round(sum(r.cost_usd or 0.0 for r in self.rows if r.picked), 4)

    def task(self, task_id: str) -> TaskTakes | None:
        return next((t for t in self.tasks if t.task.id == task_id), None)

    def scenes(self) -> list[tuple[str, list[TaskTakes]]]:
        """The tasks grouped by scene, in plan order (a split scene's parts together)."""
        grouped: dict[str, list[TaskTakes]] = {}
        for task in self.tasks:
            grouped.setdefault(task.task.scene, []).append(task)
        return list(grouped.items())

    def to_json(self) -> dict[str, object]:
        return {
            "title": self.title,
            "takes": [r.to_json() for r in self.rows],
            "film": [r.address for r in self.rows if r.picked],
            "totals": {"spent_usd": self.spent_usd, "film_usd": self.film_usd},
            "stale": list(self.stale),
            "problems": list(self.problems),
        }


def gather(compiled: Compilation, workspace: Workspace) -> Review:
    """The takes of every task of `compiled`, for the build and shelf of `workspace`."""
    build = workspace.build_dir
    plan = compiled.plan(build)
    workspace = workspace.for_plan(plan)
    selection = compiled.selection
    with existing_journal(build / "journal.sqlite") as journal:
        tasks = tuple(
            TaskTakes(
                task,
                prompts_of(task),
                references_of(task, compiled, build),
                tuple(take_rows(task, workspace, journal, selection)),
            )
            for task in plan.tasks
        )
    film = (build / plan.output).resolve()
    stale = tuple(compiled.stale_messages())
    problems = tuple(f"{p.file}:{p.line}:{p.column}: {p.message}" for p in selection.problems)
    return Review(
        plan.title, plan, film if film.is_file() else None, timeline(plan), tasks, stale, problems
    )


def recorded_takes(
    task: PlanTask, workspace: Workspace, journal: Journal | None
) -> dict[int, TaskRecord]:
    """The journal's records of this version of the request, by take."""
    if journal is None:
        return {}
    return journal.takes_of(
        task.id, record_key(workspace.cache.source, workspace.cache.entry_name(task.cache_key))
    )


def known_takes(
    task: PlanTask,
    workspace: Workspace,
    records: Mapping[int, TaskRecord],
    selection: Selection,
) -> set[int]:
    """The takes of this version of the request: planned, on the shelf, in the
    journal (`records`), or spoken of in the selection."""
    shelf = workspace.cache.takes(task.cache_key)
    return {*task.take_numbers, *shelf, *records, *selection.made(task.id, task.cache_key)}


def take_rows(
    task: PlanTask, workspace: Workspace, journal: Journal | None, selection: Selection
) -> list[TakeRow]:
    records = recorded_takes(task, workspace, journal)
    numbers = known_takes(task, workspace, records, selection)
    entry = selection.tasks.get(task.id)
    marks = entry.marks_for(task.cache_key) if entry is not None else {}
    rows = []
    for number in sorted(numbers):
        record = records.get(number)
        shelf = workspace.cache.lookup(task.cache_key, number)
        built = workspace.build_dir / "clips" / f"{Take(task.id, number).label}.mp4"
        status, clip, meta = _status(shelf, record, built)
        cost = record.cost_usd if record is not None else None
        if cost is None:
            cost = _number(meta.get("cost_usd"))
        seconds = _number(meta.get("duration"))
        if seconds is None and record is not None and clip is not None:
            seconds = record.seconds
        mark = marks.get(number)
        rows.append(
            TakeRow(
                task=task.id,
                take=number,
                status=status,
                seconds=float(seconds) if seconds is not None else None,
                cost_usd=cost,
                verdict=mark.verdict if mark is not None else None,
                note=mark.note if mark is not None else None,
                picked=number == task.take,
                clip=clip,
            )
        )
    return rows


def _number(value: object) -> float | None:
    """A number from a cache entry's metadata (JSON: anything may be there)."""
    return float(value) if isinstance(value, int | float) else None


def _status(
    shelf: CacheEntry | DamagedEntry | None, record: TaskRecord | None, built: Path
) -> tuple[Status, Path | None, dict[str, object]]:
    if isinstance(shelf, CacheEntry):
        return "kept", shelf.clip, shelf.meta
    if isinstance(shelf, DamagedEntry):
        return "damaged", built if built.is_file() else None, shelf.meta
    if record is not None and record.state in UNFINISHED:
        return "in flight", None, {}
    if record is not None and record.state == "failed":
        return "failed", None, {}
    if record is not None and record.state == "done" and built.is_file():
        return "kept", built, {}
    return "planned", None, {}


def prompts_of(task: PlanTask) -> tuple[str, ...]:
    """The prompt as it was sent: the payload's `prompt`, or each shot's of
    `multi_prompt` with its length."""
    payload = task.payload
    if isinstance(payload.get("prompt"), str):
        return (payload["prompt"],)
    shots = payload.get("multi_prompt") or []
    return tuple(
        f"shot {s.get('index', i + 1)} ({s.get('duration', '?')} s): {s.get('prompt', '')}"
        for i, s in enumerate(shots)
        if isinstance(s, dict)
    )


def references_of(task: PlanTask, compiled: Compilation, build: Path) -> tuple[Reference, ...]:
    """The payload's image_list, each as something the page can show without the
    internet: a Base64 image decoded, an upstream frame from frames/, a published
    asset as its local original; any other URL is shown as text only."""
    refs = []
    chosen = {t.id: t.chosen for t in compiled.tasks}
    for i, item in enumerate(task.payload.get("image_list") or []):
        if not isinstance(item, dict) or not isinstance(item.get("image_url"), str):
            continue
        value: str = item["image_url"]
        role = str(item.get("type") or f"image {i + 1}")
        found = Placeholder.parse(value)
        if found is not None and not found.is_file:
            # the dependant is built from the upstream's chosen take (run.resolve)
            source = chosen.get(found.task, Take(found.task)).label
            frame = build / "frames" / f"{source}.{found.kind.removesuffix('_frame')}.jpg"
            text = f"{found.kind.replace('_', ' ')} of {Take.parse(source)}"
            refs.append(Reference(role, text, path=frame if frame.is_file() else None))
        elif value.startswith(("http://", "https://")):
            refs.append(Reference(role, value, path=_published(value, compiled)))
        else:
            refs.append(_inline(role, value))
    return tuple(refs)


def _published(url: str, compiled: Compilation) -> Path | None:
    base = compiled.story.assets_base_url
    if not base or not url.startswith(base):
        return None
    path = (compiled.story.base_dir / unquote(url[len(base) :])).resolve()
    return path if path.is_file() else None


def _inline(role: str, value: str) -> Reference:
    media_type = next((t for m, t in _MAGIC.items() if value.startswith(m)), None)
    if media_type is None:
        return Reference(role, "an inline image of an unknown type")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return Reference(role, "an inline image that is not valid Base64")
    return Reference(role, f"inline {media_type}", data=data, media_type=media_type)


def timeline(plan: Plan) -> tuple[Block, ...]:
    """Each cut entry's place in the film: its segments' length, placed after the
    previous entry less the overlap of its transition (the stitcher's rule)."""
    blocks: list[Block] = []
    at = 0.0
    for i, entry in enumerate(plan.cut):
        length = sum(s.end - s.start for s in entry.segments)
        if i > 0 and entry.transition.overlaps:
            at -= entry.transition.duration
        blocks.append(Block(entry.scene, round(at, 3), round(length, 3)))
        at += length
    return tuple(blocks)
