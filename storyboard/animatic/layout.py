"""What each card of a payload says and shows, decided before anything is drawn.

Pure: a payload (and the notes the preview backend adds) in, one `ShotCard`
per shot out: the prompt in the author's names, the refs line that says which
asset is which, and the reference its picture box shows, labelled. The
renderer draws exactly this; tests read it to know what a frame must hold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.animatic.notes import CardNotes
from storyboard.provider import api

ResolveMedia = Callable[[str], Path]
_REMOTE = ("http://", "https://")


@dataclass(frozen=True)
class Reference:
    """One entry of the payload's image/element/video lists, as the cards name it."""

    token: str  # image_1, element_2, video_1 (R4)
    role: str  # first_frame, end_frame, feature, base, or "" for a plain reference
    name: str = ""  # the author's name for it ("keeper"), when the notes say
    path: Path | None = None  # local file (images, videos); None: an element, a URL video

    @property
    def caption(self) -> str:
        """`image_2 = keeper`, `video_1 = storm (feature)`: which asset is which."""
        text = f"{self.token} = {self.name}" if self.name else self.token
        return f"{text} ({self.role.replace('_', ' ')})" if self.role else text

    @property
    def is_video(self) -> bool:
        return self.token.startswith("video_")


@dataclass(frozen=True)
class ShotCard:
    """One shot's card: what it says and which reference its picture box shows."""

    index: int
    prompt: str  # as the card shows it: indexed tokens in the author's names
    seconds: int
    picture: Reference | None  # None: the picture box is a plain frame

    @property
    def frames(self) -> int:
        return self.seconds * api.OUTPUT_FPS

    @property
    def picture_label(self) -> str:
        return f"picture: {self.picture.caption}" if self.picture is not None else ""


def shot_prompts(payload: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(prompt, whole seconds) per shot: `multi_prompt` (R5) or `prompt` + `duration`."""
    if payload.get("multi_shot"):
        return [(str(s["prompt"]), int(s["duration"])) for s in payload["multi_prompt"]]
    return [(str(payload.get("prompt", "")), int(payload.get("duration", 5)))]


def references(
    payload: Mapping[str, Any],
    resolve: ResolveMedia,
    notes: CardNotes | None = None,
    *,
    offline: bool = False,
) -> list[Reference]:
    """The payload's references in API order, named as the notes say.

    Every URL goes through `resolve` (the mock maps its own URLs to files and
    refuses others). `offline` (the preview backend): a reference video given by
    an http(s) URL is not fetched and not resolved: it is named on the card and
    shown on none. A video to edit is always resolved: an edit needs its source."""
    names = notes.names if notes is not None else {}
    refs = []
    for i, item in enumerate(payload.get("image_list", []), start=1):
        token = f"image_{i}"
        path = resolve(item["image_url"])
        refs.append(Reference(token, item.get("type", ""), names.get(token, ""), path))
    for i, item in enumerate(payload.get("element_list", []), start=1):
        token = f"element_{i}"
        refs.append(Reference(token, "", names.get(token, f"#{item['element_id']}")))
    for i, item in enumerate(payload.get("video_list", []), start=1):
        token, url = f"video_{i}", str(item["video_url"])
        role = item.get("refer_type", api.DEFAULT_REFER_TYPE)
        named_only = offline and url.startswith(_REMOTE) and role != "base"
        video = None if named_only else resolve(url)
        refs.append(Reference(token, role, names.get(token, ""), video))
    return refs


def refs_line(refs: list[Reference]) -> str:
    return "refs: " + (", ".join(r.caption for r in refs) if refs else "none")


def shown_prompt(prompt: str, names: Mapping[str, str]) -> str:
    """`<<<image_2>>>` as sent becomes `<<<keeper>>>`, the name the author wrote."""

    def swap(match: Any) -> str:
        token = f"{match.group(1)}_{match.group(2)}"
        return f"<<<{names[token]}>>>" if token in names else str(match.group(0))

    return api.INDEXED_TOKEN.sub(swap, prompt)


def shot_cards(
    payload: Mapping[str, Any], refs: list[Reference], notes: CardNotes | None = None
) -> list[ShotCard]:
    """Each shot's card. Its picture: the first frame on the opening shot and the end
    frame on the closing one (what the clip opens and closes on), else the first
    reference its prompt names that has a picture, else the plain references in
    turn (images and a reference video alike)."""
    names = notes.names if notes is not None else {}
    pictured = [r for r in refs if r.path is not None and r.role != "base"]
    by_token = {r.token: r for r in pictured}
    first = next((r for r in pictured if r.role == "first_frame"), None)
    end = next((r for r in pictured if r.role == "end_frame"), None)
    plain = [r for r in pictured if r.role not in api.FRAME_TYPES]
    prompts = shot_prompts(payload)
    cards = []
    for i, (prompt, seconds) in enumerate(prompts):
        named = [
            by_token[token]
            for m in api.INDEXED_TOKEN.finditer(prompt)
            if (token := f"{m.group(1)}_{m.group(2)}") in by_token
        ]
        if i == 0 and first is not None:
            picture: Reference | None = first
        elif i == len(prompts) - 1 and end is not None:
            picture = end
        elif named:
            picture = named[0]
        elif plain:
            picture = plain[i % len(plain)]
        else:
            picture = first or end
        cards.append(ShotCard(i + 1, shown_prompt(prompt, names), seconds, picture))
    return cards


def shows_a_picture(payload: Mapping[str, Any]) -> bool:
    """Whether the cards of `payload` (unresolved, as in the plan) show a picture: any
    image does, and so does a reference video that is a file. What a downstream task
    taking this one's frame finds in that frame's picture box."""
    if payload.get("image_list"):
        return True
    return any(
        not str(v.get("video_url", "")).startswith(_REMOTE)
        and v.get("refer_type", api.DEFAULT_REFER_TYPE) != "base"
        for v in payload.get("video_list", [])
    )
