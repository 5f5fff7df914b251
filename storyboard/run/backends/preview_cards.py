"""The notes a preview card needs from the plan: names, the film's time, upstream frames.

The payload is the API request and stays exactly that (kirin's requests and
cache keys never depend on a card). What a card says beyond it is worked out
here from the plan, once per run: the author's name for each token (the plan's
`names`), where the clip sits in the film (the cut, in whole frames, by the
stitcher's rules: an overlapping transition starts its clip early by its
length, a fade through black and a hard cut do not), and which images are
another task's frames. `notes_digest` keys the preview shelf by all of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Protocol

from storyboard.animatic.layout import shows_a_picture
from storyboard.animatic.notes import CardNotes, FilmSpan, PictureKind, UpstreamFrame
from storyboard.compile.placeholders import Placeholder
from storyboard.compile.plan import CutEntry, PlanTask
from storyboard.provider import api
from storyboard.provider.shape import refers_base

NO_OVERLAP = ("cut", "fade")  # a hard cut; a fade goes through black, one clip after the other


class PlanLike(Protocol):
    """A plan, or a compilation not yet written as one: its tasks and its cut."""

    @property
    def tasks(self) -> tuple[PlanTask, ...]: ...

    @property
    def cut(self) -> tuple[CutEntry, ...]: ...


def _frames(seconds: float) -> int:
    return round(seconds * api.OUTPUT_FPS)


def film_spans(tasks: Sequence[PlanTask], cut: Sequence[CutEntry]) -> dict[str, FilmSpan]:
    """Where each task of the cut first appears in the film. A task the cut does not use
    (a base edit's source) has none: its card shows only its clip's own time."""
    seconds = {t.id: t.seconds for t in tasks}
    spans: dict[str, FilmSpan] = {}
    at, opened = 0, False  # the film's first clip fades in from black: no overlap
    for entry in cut:
        for i, segment in enumerate(entry.segments):
            whole = segment.start == 0 and abs(segment.end - seconds.get(segment.task, 0)) < 1e-6
            clip_from = 0 if whole else _frames(segment.start)
            frames = _frames(seconds[segment.task]) if whole else _frames(segment.end) - clip_from
            lead_in = entry.transition if i == 0 else None
            if opened and lead_in is not None and lead_in.type not in NO_OVERLAP:
                at -= _frames(lead_in.duration)
            spans.setdefault(segment.task, FilmSpan(at, clip_from, frames))
            at, opened = at + frames, True
    return spans


def card_notes(plan: PlanLike) -> dict[str, CardNotes]:
    """The notes of every task's cards, by task id."""
    from storyboard.animatic.cards import shot_colour  # Pillow: only when there is a plan

    by_id = {t.id: t for t in plan.tasks}
    spans = film_spans(plan.tasks, plan.cut)
    notes = {}
    for task in plan.tasks:
        names = dict(task.names)
        upstream = {}
        for i, item in enumerate(task.payload.get("image_list", []), start=1):
            found = Placeholder.parse(str(item.get("image_url", "")))
            if found is None or found.is_file or found.task not in by_id:
                continue
            source = by_id[found.task]
            last = found.kind == "last_frame"
            token = f"image_{i}"
            names[token] = f"{'last' if last else 'first'} frame of {source.scene}"
            shot = len(source.shots) if last else 1
            upstream[token] = UpstreamFrame(
                source.id,
                _picture_kind(source),
                shot_colour(f"{source.chosen.label}/{max(1, shot)}"),
            )
        notes[task.id] = CardNotes(names, upstream, spans.get(task.id))
    return notes


def _picture_kind(task: PlanTask) -> PictureKind:
    if any(refers_base(v) for v in task.payload.get("video_list", [])):
        return "edit"
    return "card" if shows_a_picture(task.payload) else "plain"


def notes_digest(notes: Mapping[str, CardNotes]) -> str:
    """A short digest of every card's notes: part of the preview's cache shelf, so that
    a clip is only ever served with the names and the film time it was drawn with."""
    text = json.dumps({k: v.to_json() for k, v in sorted(notes.items())}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
