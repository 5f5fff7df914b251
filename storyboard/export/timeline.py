"""The edit as an OpenTimelineIO timeline: what every export format is written from.

Three tracks at 24 fps (`storyboard.export.layout` says how the cut becomes
items): the picture; the clips' own sound, the same items with a silence for
a clip that has none; and the music bed, its plays end to end (looped as
clips) with its fades as transitions from and to silence. A transition is
named by the storyboard's kind: a crossfade or a fade is an SMPTE dissolve;
another xfade kind is a custom transition of that name whose metadata names
the dissolve as the nearest kind that every editor knows. Each picture clip
has a marker per shot (its prompt as sent, scene, shot, task, take and cost)
and, under the `storyboard` metadata namespace, everything else the tool
knows of it (cache key, provider ids, trim, alternate takes), so that an
OTIO file loses nothing. `where` turns a file into the reference the format
takes (a path relative to the export, a file URL).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import opentimelineio as otio

from storyboard import __version__
from storyboard.export.edit import Edit, EditClip, ShotNote
from storyboard.export.layout import Blank, Join, Slot, Span, lay_bed, lay_out, silenced
from storyboard.film.graph import FPS

NAMESPACE = "storyboard"
DISSOLVES = frozenset({"crossfade", "fade", "dissolve"})  # the film's kinds that are dissolves
MARKER_COLOR = otio.schema.MarkerColor.BLUE  # FCPX reads red and green as to-do items

Where = Callable[[Path], str]


def _time(frames: int) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(frames, FPS)


def _range(start: int, frames: int) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(_time(start), _time(frames))


def _seconds(frames: int) -> float:
    return round(frames / FPS, 6)


def transition(join: Join) -> otio.schema.Transition:
    """The OTIO transition for a join of the film."""
    dissolve = join.kind in DISSOLVES
    return otio.schema.Transition(
        name=join.kind,
        transition_type=(
            otio.schema.TransitionTypes.SMPTE_Dissolve
            if dissolve
            else otio.schema.TransitionTypes.Custom
        ),
        in_offset=_time(join.in_offset),
        out_offset=_time(join.out_offset),
        metadata={
            NAMESPACE: {
                "kind": join.kind,
                "frames": join.frames,
                "seconds": _seconds(join.frames),
                "nearest": otio.schema.TransitionTypes.SMPTE_Dissolve,
            }
        },
    )


def _reference(path: Path, frames: int, where: Where) -> otio.schema.ExternalReference:
    return otio.schema.ExternalReference(target_url=where(path), available_range=_range(0, frames))


def _cost(clip: EditClip) -> str:
    if clip.cost_usd is not None:
        return f"${clip.cost_usd:.3f} billed"
    return f"${clip.task.estimated_cost_usd:.3f} at list price (no bill recorded)"


def marker_name(note: ShotNote) -> str:
    """ASCII (an EDL's locators are): the task and the shot's number in its scene."""
    return f"{note.label.split(' · ')[0]} shot {note.shot}"


def _marker(clip: EditClip, note: ShotNote, item: otio.opentime.TimeRange) -> otio.schema.Marker:
    """A shot's marker, on its clip's media time; a shot that starts in the handle of
    the transition into the clip is marked where the clip's item starts."""
    first = item.start_time.to_frames()
    end = first + item.duration.to_frames()
    start = min(max(clip.trim[0] + note.start, first), end - 1)
    stop = min(clip.trim[0] + note.start + note.frames, end)
    shot_id = f" ({note.shot_id})" if note.shot_id else ""
    comment = (
        f"{note.prompt}\n\nscene {note.scene}, shot {note.shot}{shot_id}; "
        f"task {clip.task.id}, take {clip.task.take}; {_cost(clip)}"
    )
    return otio.schema.Marker(
        name=marker_name(note),
        marked_range=_range(start, max(0, stop - start)),
        color=MARKER_COLOR,
        comment=comment,
        metadata={
            NAMESPACE: {
                "scene": note.scene,
                "shot": note.shot,
                "shot_id": note.shot_id,
                "task": clip.task.id,
                "take": clip.task.take,
                "prompt": note.prompt,
                "cost_usd": clip.cost_usd,
                "film_frame": clip.film_start + note.start,
                "frames": note.frames,
            }
        },
    )


def _take_json(clip: EditClip, where: Where) -> list[dict[str, Any]]:
    takes = []
    for row in clip.takes:
        data = row.to_json()
        data["clip"] = where(row.clip) if row.clip is not None else None
        data["external_task_id"] = clip.task.take_external_id(row.take)
        takes.append(data)
    return takes


def clip_metadata(clip: EditClip, where: Where) -> dict[str, Any]:
    task = clip.task
    takes = _take_json(clip, where)
    return {
        "task": task.id,
        "scene": task.scene,
        "part": task.part,
        "parts": task.parts,
        "take": task.take,
        "take_address": task.chosen.address,
        "cache_key": task.cache_key,
        "request_key": task.request_key,
        "external_task_id": clip.external_task_id,
        "provider_task_id": clip.provider_task_id,
        "cost_usd": clip.cost_usd,
        "estimated_cost_usd": task.estimated_cost_usd,
        "trim_frames": list(clip.trim),
        "trim_seconds": [_seconds(clip.trim[0]), _seconds(clip.trim[1])],
        "film_start_frame": clip.film_start,
        "transition_in": {
            "type": clip.transition.type,
            "seconds": clip.transition.duration,
        },
        "takes": takes,
        "alternate_takes": [t for t in takes if not t["picked"]],
    }


def _track(
    name: str, kind: str, slots: list[Slot], make: Callable[[Span], otio.schema.Clip]
) -> otio.schema.Track:
    """The track of `slots`: a clip made by `make` for each span, gaps, transitions."""
    track = otio.schema.Track(name=name, kind=kind)
    for slot in slots:
        if isinstance(slot, Span):
            track.append(make(slot))
        elif isinstance(slot, Blank):
            track.append(otio.schema.Gap(source_range=_range(0, slot.frames)))
        else:
            track.append(transition(slot))
    return track


def _media_clip(
    name: str, path: Path, frames: int, span: Span, where: Where, meta: dict[str, Any]
) -> otio.schema.Clip:
    """Frames `span` of the file at `path` (`frames` long), with our metadata."""
    return otio.schema.Clip(
        name=name,
        media_reference=_reference(path, frames, where),
        source_range=_range(span.start, span.frames),
        metadata={NAMESPACE: meta},
    )


def _picture(edit: Edit, slots: list[Slot], where: Where) -> otio.schema.Track:
    def make(span: Span) -> otio.schema.Clip:
        clip = edit.clips[span.index]
        meta = clip_metadata(clip, where)
        item = _media_clip(clip.task.chosen.label, clip.path, clip.media_frames, span, where, meta)
        for note in clip.shots:
            item.markers.append(_marker(clip, note, item.source_range))
        return item

    return _track("picture", otio.schema.TrackKind.Video, slots, make)


def _sound(edit: Edit, slots: list[Slot], where: Where) -> otio.schema.Track:
    def make(span: Span) -> otio.schema.Clip:
        clip = edit.clips[span.index]
        meta = {"task": clip.task.id, "take": clip.task.take}
        return _media_clip(clip.task.chosen.label, clip.path, clip.media_frames, span, where, meta)

    quiet = silenced(slots, [c.has_audio for c in edit.clips])
    return _track("sound", otio.schema.TrackKind.Audio, quiet, make)


def _music(edit: Edit, where: Where) -> otio.schema.Track | None:
    if edit.music is None:
        return None
    bed, audio = edit.music, edit.music.audio
    slots = lay_bed(
        bed.media_frames,
        edit.frames,
        loop=audio.loop,
        fade_in=round(audio.fade_in * FPS),
        fade_out=round(audio.fade_out * FPS),
    )
    plays = itertools.count(1)

    def make(span: Span) -> otio.schema.Clip:
        meta = {"play": next(plays), "volume": audio.volume}
        return _media_clip(bed.path.name, bed.path, bed.media_frames, span, where, meta)

    track = _track("music", otio.schema.TrackKind.Audio, slots, make)
    track.metadata[NAMESPACE] = {**audio.to_json(), "music": where(bed.path)}
    return track


def build_timeline(edit: Edit, where: Where) -> otio.schema.Timeline:
    """The timeline of `edit`: picture, the clips' sound and the music bed."""
    slots = lay_out(edit.cut.pieces, [c.transition.type for c in edit.clips])
    timeline = otio.schema.Timeline(name=edit.title, global_start_time=_time(0))
    timeline.tracks.append(_picture(edit, slots, where))
    timeline.tracks.append(_sound(edit, slots, where))
    music = _music(edit, where)
    if music is not None:
        timeline.tracks.append(music)
    timeline.metadata[NAMESPACE] = {
        "version": __version__,
        "title": edit.title,
        "storyboard": where(edit.storyboard),
        "film": where(edit.film),
        "fps": FPS,
        "frames": edit.frames,
        "seconds": _seconds(edit.frames),
        "size": list(edit.size),
        "source": edit.source,
    }
    return timeline
