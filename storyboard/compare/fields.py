"""Why a task changed: two versions of one task compared field by field.

The request body is what the provider is paid for, so that is what a reviewer
must see: its shots' prompts and durations, the scene's settings, its images,
elements and video, each under the name the storyboard wrote (`Names` maps a
payload's Base64 or URL back to `keeper`). A payload holds
`${task:arrival:last_frame}` whatever arrival's clip is, so only the keys of
the tasks upstream tell that arrival changed; and the bytes of a local video
count in the key, never in the payload, so a new key that nothing else
explains is those bytes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from storyboard.compile.payload import Inputs
from storyboard.compile.placeholders import Placeholder
from storyboard.compile.plan import Plan, PlanTask
from storyboard.language.model import AssetKind, Storyboard
from storyboard.language.takes import upstream_identity

# Payload keys read as part of another field, or derived from the key itself.
_FOLDED = frozenset({"multi_shot", "shot_type", "multi_prompt", "prompt", "external_task_id"})
_LISTS = ("image_list", "element_list", "video_list")
_SCALARS = {
    "model": "model",
    "duration": "duration",
    "sound": "sound",
    "mode": "mode",
    "aspect_ratio": "aspect ratio",
    "watermark_info": "watermark",
}
_FRAMES = {"first_frame": "first frame", "end_frame": "end frame"}


@dataclass(frozen=True)
class Names:
    """The asset names behind a storyboard's payload values: an image's Base64 or
    URL, a video's URL or `${file:...}`, an element's id."""

    values: dict[str, list[str]] = field(default_factory=dict)
    elements: dict[int, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, story: Storyboard) -> Names:
        inputs = Inputs(story)
        values: dict[str, list[str]] = {}
        elements: dict[int, list[str]] = {}
        for name, asset in story.assets.items():
            if asset.kind is AssetKind.ELEMENT and asset.element_id is not None:
                elements.setdefault(asset.element_id, []).append(name)
            elif asset.kind is AssetKind.IMAGE and asset.source:
                values.setdefault(inputs.image_url(asset), []).append(name)
            elif asset.kind is AssetKind.VIDEO and asset.source:
                values.setdefault(inputs.video_url(asset)[0], []).append(name)
        return cls(values, elements)

    def of_value(self, value: Any) -> list[str]:
        """What the storyboard may have called `value`: the assets that give it (two
        files with the same bytes give the same Base64), another task's frame or
        video, or (a value no asset gives) a short form of it."""
        if isinstance(value, int) and value in self.elements:
            return self.elements[value]
        text = str(value)
        if text in self.values:
            return self.values[text]
        found = Placeholder.parse(text)
        if found is not None and not found.is_file:
            return [f"{found.task}'s {found.kind.replace('_', ' ')}"]
        return [text if len(text) <= 60 else text[:57] + "..."]


@dataclass(frozen=True)
class FieldChange:
    """One difference between a task's two versions. `label` is what the reports
    print ("prompt of shot 2", "mode (std → pro)"); `old`/`new` the values, as
    text (None: absent on that side, or nothing worth showing)."""

    field: str
    label: str
    old: str | None = None
    new: str | None = None


def _shots(payload: dict[str, Any]) -> list[dict[str, Any]]:
    if payload.get("multi_shot"):
        return list(payload.get("multi_prompt") or [])
    return [{"prompt": payload.get("prompt")}] if "prompt" in payload else []


def _shot_changes(
    old: dict[str, Any], new: dict[str, Any], numbers: Sequence[int]
) -> list[FieldChange]:
    """The shots' prompts and durations, each under its number in the scene (a split
    scene's second task starts at its scene's shot 5, not at 1)."""
    before, after = _shots(old), _shots(new)
    out = []
    if len(before) != len(after):
        out.append(FieldChange("shots", f"shots ({len(before)} → {len(after)})"))
    single = len(before) == len(after) == 1
    for i, (a, b) in enumerate(zip(before, after, strict=False)):  # the shots both have
        number = numbers[i] if i < len(numbers) else i + 1
        if a.get("prompt") != b.get("prompt"):
            label = "prompt" if single else f"prompt of shot {number}"
            out.append(FieldChange(label, label, a.get("prompt"), b.get("prompt")))
        if a.get("duration") != b.get("duration"):
            label = f"duration of shot {number}"
            was, now = a.get("duration"), b.get("duration")
            out.append(FieldChange(label, f"{label} ({was} → {now})", was, now))
    return out


def _slot_labels(images: Sequence[dict[str, Any]]) -> dict[str, tuple[int, dict[str, Any]]]:
    """An image list by role: its frames by type, its references by their order among
    references (so that adding an end frame does not renumber every reference),
    each with its position in the list (what `<<<image_N>>>` counts)."""
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    refs = 0
    for i, item in enumerate(images, start=1):
        kind = item.get("type")
        if kind:
            out[_FRAMES.get(str(kind), str(kind))] = (i, item)
        else:
            refs += 1
            out[f"reference {refs}"] = (i, item)
    return out


def _named(label: str, old: Any, new: Any, old_names: Names, new_names: Names) -> FieldChange:
    """A reference that changed, by the names of its old and new values (None: absent
    on that side). Where a value has several names, the one both sides share wins:
    a picture whose bytes changed stays `keeper`, even if it now matches another."""
    before = old_names.of_value(old) if old is not None else []
    after = new_names.of_value(new) if new is not None else []
    common = [n for n in before if n in after]
    a = common[0] if common else (before[0] if before else None)
    b = common[0] if common else (after[0] if after else None)
    if a is None:
        return FieldChange(label, f"{label} (added: {b})", None, b)
    if b is None:
        return FieldChange(label, f"{label} (removed: {a})", a, None)
    names = a if a == b else f"{a} → {b}"
    return FieldChange(label, f"{label} ({names})", a, b)


def _image_changes(
    old: dict[str, Any], new: dict[str, Any], old_names: Names, new_names: Names
) -> list[FieldChange]:
    before = _slot_labels(old.get("image_list") or [])
    after = _slot_labels(new.get("image_list") or [])
    out = []
    for role in dict.fromkeys([*after, *before]):
        a, b = before.get(role), after.get(role)
        if a is not None and b is not None and a[1] == b[1]:
            continue
        index = (b or a or (0, {}))[0]
        label = f"reference image_{index}" if role.startswith("reference") else role
        out.append(
            _named(
                label,
                None if a is None else a[1].get("image_url"),
                None if b is None else b[1].get("image_url"),
                old_names,
                new_names,
            )
        )
    return out


def _element_changes(
    old: dict[str, Any], new: dict[str, Any], old_names: Names, new_names: Names
) -> list[FieldChange]:
    before = [e.get("element_id") for e in old.get("element_list") or []]
    after = [e.get("element_id") for e in new.get("element_list") or []]
    out = []
    for i in range(max(len(before), len(after))):
        a = before[i] if i < len(before) else None
        b = after[i] if i < len(after) else None
        if a != b:
            out.append(_named(f"element_{i + 1}", a, b, old_names, new_names))
    return out


def _video_changes(
    old: dict[str, Any], new: dict[str, Any], old_names: Names, new_names: Names
) -> list[FieldChange]:
    before = (old.get("video_list") or [{}])[0]
    after = (new.get("video_list") or [{}])[0]
    if before == after:
        return []
    if not before or not after:
        url = "video_url"
        return [_named("reference video", before.get(url), after.get(url), old_names, new_names)]
    out = []
    if before.get("video_url") != after.get("video_url"):
        out.append(
            _named(
                "reference video",
                before.get("video_url"),
                after.get("video_url"),
                old_names,
                new_names,
            )
        )
    for key, label in (("refer_type", "video use"), ("keep_original_sound", "original sound")):
        if before.get(key) != after.get(key):
            out.append(_scalar(label, before.get(key), after.get(key)))
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict) and set(value) == {"enabled"}:
        return "on" if value["enabled"] else "off"
    return str(value)


def _scalar(label: str, old: Any, new: Any) -> FieldChange:
    a, b = _text(old), _text(new)
    return FieldChange(label, f"{label} ({a or 'none'} → {b or 'none'})", a, b)


_TOKEN = re.compile(r"<<<((?:image|element|video)_\d+)>>>")


def spoken(prompt: str | None, names: Mapping[str, str]) -> str | None:
    """A prompt as sent, in the author's names: `<<<image_2>>>` as `<<<keeper>>>`
    (the plan's `names`), so that a reviewer reads what the author wrote."""
    if prompt is None:
        return None
    return _TOKEN.sub(lambda m: f"<<<{names.get(m.group(1), m.group(1))}>>>", prompt)


def payload_changes(
    old: dict[str, Any],
    new: dict[str, Any],
    old_names: Names | None = None,
    new_names: Names | None = None,
    shot_numbers: Sequence[int] = (),
) -> list[FieldChange]:
    """Every field in which two payloads of one task differ, in the order a reader
    meets them in the storyboard: shots, then the scene's settings and references.
    A key this module does not know is still compared, under its own name.
    `shot_numbers`: the task's shots' numbers in their scene (default 1, 2, ...)."""
    old_names = old_names or Names()
    new_names = new_names or Names()
    out = _shot_changes(old, new, shot_numbers)
    for key in dict.fromkeys([*new, *old]):
        if key in _FOLDED or key in _LISTS or old.get(key) == new.get(key):
            continue
        out.append(_scalar(_SCALARS.get(key, key), old.get(key), new.get(key)))
    out += _image_changes(old, new, old_names, new_names)
    out += _element_changes(old, new, old_names, new_names)
    out += _video_changes(old, new, old_names, new_names)
    return out


def task_changes(
    old: PlanTask,
    new: PlanTask,
    old_plan: Plan,
    new_plan: Plan,
    old_names: Names | None = None,
    new_names: Names | None = None,
) -> list[FieldChange]:
    """Why `new` is not `old`: its payload's fields, the tasks upstream whose clip
    changed, its takes, and (when nothing else explains a new key) the bytes of a
    local video. Empty: the same request, the same takes."""
    numbers = [shot.index for shot in new.shots]
    out = [
        dataclasses.replace(c, old=spoken(c.old, old.names), new=spoken(c.new, new.names))
        if c.field.startswith("prompt")
        else c
        for c in payload_changes(old.payload, new.payload, old_names, new_names, numbers)
    ]
    upstream = [
        dep
        for dep in new.depends_on
        if dep not in old_plan.by_id
        or _identity(old_plan.by_id[dep]) != _identity(new_plan.task(dep))
    ]
    if upstream:
        out.append(FieldChange("upstream", f"an upstream task changed: {', '.join(upstream)}"))
    if old.cache_key != new.cache_key and not out:
        video = (new.payload.get("video_list") or [{}])[0].get("video_url")
        what = (new_names or Names()).of_value(video)[0] if video else "a local file"
        out.append(FieldChange("file", f"the bytes of {what}"))
    if old.takes != new.takes:
        out.append(_scalar("takes", old.takes, new.takes))
    if old.take != new.take:
        out.append(_scalar("the film's take", old.take, new.take))
    return out


def _identity(task: PlanTask) -> str:
    """What a dependant's key holds of `task`: its key and the take it is built from."""
    return upstream_identity(task.cache_key, task.take)
