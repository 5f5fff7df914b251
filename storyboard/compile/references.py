"""Which assets a task uses, in which order, and the prompts rewritten to API tokens.

Pure functions, shared by lint and the compiler. The order of `image_list`
is fixed by DESIGN §2: the scene's explicit `images`, then images named in
the prompts in order of first appearance, then frames not already listed;
one asset appears once. Elements: explicit, then named. A hand-written
`<<<image_N>>>` means the scene's N-th explicit image; `<<<name>>>` (also
what `{{ name }}` renders to) means the named asset. Both become the
task's own `<<<image_K>>>` / `<<<element_K>>>` / `<<<video_1>>>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from storyboard.compile.placeholders import Placeholder
from storyboard.compile.templates import NAMED_REF
from storyboard.language.model import Asset, AssetKind, Scene, VideoRef

HANDWRITTEN = re.compile(r"^(image|element|video)_(\d+)$")


@dataclass(frozen=True)
class FrameSource:
    """Where a first/end frame comes from: an image asset or another task's output."""

    asset: str | None = None
    placeholder: str | None = None  # "${task:<id>:last_frame}"

    @property
    def key(self) -> str:
        return self.asset if self.asset is not None else str(self.placeholder)


@dataclass(frozen=True)
class ImageSlot:
    source: FrameSource
    type: str | None = None  # first_frame | end_frame | None


@dataclass(frozen=True)
class RefError:
    """A reference that cannot be resolved; `token` is the text to point at."""

    message: str
    token: str
    shot: int  # index into the part's prompts
    rule: str = "R4"


@dataclass
class Resolved:
    images: list[ImageSlot] = field(default_factory=list)
    elements: list[Asset] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    errors: list[RefError] = field(default_factory=list)

    @property
    def first_frame(self) -> bool:
        return any(s.type == "first_frame" for s in self.images)

    @property
    def end_frame(self) -> bool:
        return any(s.type == "end_frame" for s in self.images)


def resolve_references(
    scene: Scene,
    assets: dict[str, Asset],
    texts: list[str],
    *,
    first_frame: FrameSource | None,
    end_frame: FrameSource | None,
    has_video: bool,
) -> Resolved:
    """Number the assets one task uses and rewrite its rendered prompts."""
    out = Resolved()
    image_names: list[str] = []
    element_names: list[str] = []

    def add(names: list[str], name: str) -> None:
        if name not in names:
            names.append(name)

    for ref in scene.images:
        add(image_names, ref.name)
    for ref in scene.elements:
        add(element_names, ref.name)
    explicit_images = [r.name for r in scene.images]
    explicit_elements = [r.name for r in scene.elements]

    # First pass: find named references in order of first appearance.
    for text in texts:
        for match in NAMED_REF.finditer(text):
            name = match.group(1)
            if HANDWRITTEN.match(name) or name not in assets:
                continue
            kind = assets[name].kind
            if kind is AssetKind.IMAGE:
                add(image_names, name)
            elif kind is AssetKind.ELEMENT:
                add(element_names, name)

    slots = [ImageSlot(FrameSource(asset=n)) for n in image_names]
    for frame, frame_type in ((first_frame, "first_frame"), (end_frame, "end_frame")):
        if frame is None:
            continue
        for i, slot in enumerate(slots):
            if slot.source.key == frame.key and slot.type is None:
                slots[i] = ImageSlot(slot.source, frame_type)
                break
        else:
            slots.append(ImageSlot(frame, frame_type))
    out.images = slots
    out.elements = [assets[n] for n in element_names if n in assets]
    image_index = {s.source.asset: i + 1 for i, s in enumerate(slots) if s.source.asset}
    element_index = {n: i + 1 for i, n in enumerate(element_names)}
    video_asset = scene.video.asset if scene.video else None

    for shot_i, text in enumerate(texts):

        def rewrite(match: re.Match[str], shot_i: int = shot_i) -> str:
            token = match.group(0)
            name = match.group(1)
            hand = HANDWRITTEN.match(name)
            if hand:
                kind, n = hand.group(1), int(hand.group(2))
                if kind == "video":
                    if has_video and n == 1:
                        return "<<<video_1>>>"
                    out.errors.append(
                        RefError(f"{token} refers to no reference video", token, shot_i, "R13")
                    )
                    return token
                explicit = explicit_images if kind == "image" else explicit_elements
                if not 1 <= n <= len(explicit):
                    out.errors.append(
                        RefError(
                            f"{token} is out of range: the scene lists {len(explicit)} "
                            f"{kind}(s) in `{kind}s:`",
                            token,
                            shot_i,
                        )
                    )
                    return token
                name = explicit[n - 1]
                if name not in assets:
                    return token  # the undefined name is reported where it is listed
            asset = assets.get(name)
            if asset is None:
                out.errors.append(RefError(f"undefined asset {name!r} in {token}", token, shot_i))
                return token
            if asset.kind is AssetKind.IMAGE:
                return f"<<<image_{image_index[name]}>>>"
            if asset.kind is AssetKind.ELEMENT:
                return f"<<<element_{element_index[name]}>>>"
            if name == video_asset:
                return "<<<video_1>>>"
            out.errors.append(
                RefError(
                    f"video asset {name!r} is named in the prompt but is not this scene's "
                    "`video:` reference",
                    token,
                    shot_i,
                    "R13",
                )
            )
            return token

        out.prompts.append(NAMED_REF.sub(rewrite, text))
    return out


def reference_names(resolved: Resolved, video: VideoRef | None) -> dict[str, str]:
    """Each API token of a task (`image_1`, `element_1`, `video_1`) and the name the
    author wrote for it: the asset's name, or the id of the task whose output it is.

    The payload knows only indexes; the preview cards show these names, so a note
    on a card can use the author's words. Plain data for the plan: no payload depends
    on it, so no request and no kirin cache key changes with it.
    """
    names: dict[str, str] = {}
    for i, slot in enumerate(resolved.images, start=1):
        if slot.source.asset is not None:
            names[f"image_{i}"] = slot.source.asset
        else:
            found = Placeholder.parse(str(slot.source.placeholder))
            names[f"image_{i}"] = found.task if found is not None else str(slot.source.key)
    for i, element in enumerate(resolved.elements, start=1):
        names[f"element_{i}"] = element.name
    if video is not None:
        names["video_1"] = video.asset if video.asset is not None else str(video.scene)
    return names
