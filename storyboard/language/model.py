"""The normalised storyboard: typed, defaults cascaded, positions attached.

`build_storyboard` turns a loaded document into these dataclasses once, so
that rules and the compiler never look at raw dicts. It tolerates nodes of
the wrong type (the schema has already reported them) by leaving them out,
which lets every other rule still run on the rest of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from storyboard.language.load import Document, NodePath
from storyboard.language.montage import TRANSITION_SECONDS, Audio, Film, Transition
from storyboard.language.takes import MAX_TAKES
from storyboard.problems import Pos
from storyboard.provider import api


class AssetKind(StrEnum):
    IMAGE = "image"
    ELEMENT = "element"
    VIDEO = "video"


@dataclass(frozen=True)
class Asset:
    name: str
    kind: AssetKind
    pos: Pos
    source: str | None = None  # path or URL (image, video)
    source_pos: Pos | None = None
    base_dir: Path = Path(".")  # folder of the file that declared it
    element_id: int | None = None
    element_role: str = "image"  # subject role: image or video (R12)
    keep_sound: bool = False

    @property
    def is_url(self) -> bool:
        return self.source is not None and self.source.startswith(("http://", "https://"))

    @property
    def is_local(self) -> bool:
        return self.source is not None and not self.is_url


@dataclass(frozen=True)
class Settings:
    """A scene's settings, `defaults:` cascaded. These field defaults are the
    language's, as the schema states them (a test holds the two equal): `std`,
    the cheaper mode, where the API itself would assume `pro` (api.DEFAULT_MODE)."""

    mode: str = "std"
    aspect_ratio: str = "16:9"
    aspect_ratio_set: bool = False
    sound: bool = False
    watermark: bool = False
    model: str = api.MODEL
    continuity: bool = True
    takes: int = 1  # generations of each of the scene's tasks (language.takes)


@dataclass(frozen=True)
class FrameRef:
    """A first/end frame: an image asset, or another scene's first/last frame."""

    pos: Pos
    asset: str | None = None
    scene: str | None = None
    frame: str = "last"


@dataclass(frozen=True)
class VideoRef:
    """A reference video (R13): a video asset or another scene's output."""

    pos: Pos
    refer: str = "feature"
    asset: str | None = None
    scene: str | None = None
    keep_sound: bool | None = None
    via_edit: bool = False  # written as `edit: X`

    @property
    def is_base(self) -> bool:
        """A video to edit (R13 `refer_type: base`), not one to take features from."""
        return self.refer == "base"


@dataclass(frozen=True)
class Shot:
    index: int  # 1-based within the scene
    prompt: str | None
    duration: int | None
    pos: Pos
    prompt_pos: Pos
    duration_pos: Pos
    name: str | None = None
    path: NodePath = ()  # of the prompt node, for template positions


@dataclass(frozen=True)
class NamedRef:
    name: str
    pos: Pos


@dataclass
class Scene:
    id: str
    index: int  # position in `scenes`
    pos: Pos
    settings: Settings
    shots: list[Shot] = field(default_factory=list)
    multi: bool = False  # written with `shots:` (else one prompt + duration)
    first_frame: FrameRef | None = None
    end_frame: FrameRef | None = None
    images: list[NamedRef] = field(default_factory=list)
    elements: list[NamedRef] = field(default_factory=list)
    video: VideoRef | None = None
    keys: frozenset[str] = frozenset()

    @property
    def is_edit(self) -> bool:
        return self.video is not None and self.video.is_base

    @property
    def duration(self) -> int | None:
        """Sum of shot durations, or None when any is unknown (edits: the source's)."""
        values = [s.duration for s in self.shots]
        if not values or any(v is None for v in values):
            return None
        return sum(v for v in values if v is not None)

    @property
    def depends_on(self) -> list[str]:
        deps = [
            ref.scene
            for ref in (self.first_frame, self.end_frame, self.video)
            if ref is not None and ref.scene
        ]
        return list(dict.fromkeys(deps))


@dataclass(frozen=True)
class CutItem:
    scene: str
    pos: Pos
    trim: tuple[float, float] | None = None
    transition: Transition = field(default_factory=Transition)


@dataclass
class Storyboard:
    doc: Document
    path: Path
    title: str
    output: str | None
    vars: dict[str, Any]
    assets: dict[str, Asset]
    scenes: list[Scene]
    cut: list[CutItem]
    cut_explicit: bool
    audio: Audio | None
    film: Film
    assets_base_url: str | None
    asset_root: Path

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def scene(self, scene_id: str) -> Scene | None:
        return next((s for s in self.scenes if s.id == scene_id), None)

    def clip_seconds(self, scene_id: str, seen: frozenset[str] = frozenset()) -> int | None:
        """How long a scene's clip lasts: its shots, or for an edit its source's;
        None when unknown (a missing scene or duration, or edits in a loop)."""
        scene = self.scene(scene_id)
        if scene is None or scene_id in seen:
            return None
        if scene.is_edit and scene.video is not None and scene.video.scene:
            return self.clip_seconds(scene.video.scene, seen | {scene_id})
        return scene.duration


def _get(data: Any, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    if not isinstance(data, dict):
        return default
    value = data.get(key, default)
    if value is default:
        return default
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        return default
    return value if isinstance(value, kind) else default


def _settings(raw: Any, base: Settings) -> Settings:
    mode = _get(raw, "mode", str)
    aspect = _get(raw, "aspect_ratio", str)
    continuity = _get(raw, "continuity", bool)
    takes = _get(raw, "takes", int)
    return Settings(
        mode=mode if mode in api.MODES else base.mode,
        aspect_ratio=aspect if aspect in api.ASPECT_RATIOS else base.aspect_ratio,
        aspect_ratio_set=base.aspect_ratio_set or aspect in api.ASPECT_RATIOS,
        sound=_get(raw, "sound", bool, base.sound),
        watermark=_get(raw, "watermark", bool, base.watermark),
        model=_get(raw, "model", str, base.model),
        continuity=base.continuity if continuity is None else continuity,
        takes=takes if takes is not None and 1 <= takes <= MAX_TAKES else base.takes,
    )


def _asset(doc: Document, name: str, raw: Any) -> Asset | None:
    path: NodePath = ("assets", name)
    pos = doc.pos(path, key=True)
    base_dir = doc.file_of(path).parent
    if not isinstance(raw, dict):
        return None
    if isinstance(raw.get("image"), str):
        return Asset(name, AssetKind.IMAGE, pos, raw["image"], doc.pos((*path, "image")), base_dir)
    if isinstance(raw.get("video"), str):
        return Asset(
            name,
            AssetKind.VIDEO,
            pos,
            raw["video"],
            doc.pos((*path, "video")),
            base_dir,
            keep_sound=_get(raw, "keep_sound", bool, Asset.keep_sound),
        )
    element = raw.get("element")
    if isinstance(element, int) and not isinstance(element, bool):
        return Asset(name, AssetKind.ELEMENT, pos, base_dir=base_dir, element_id=element)
    if isinstance(element, dict) and isinstance(element.get("id"), int):
        kind = element.get("kind")
        role = str(kind) if kind in ("image", "video") else Asset.element_role
        return Asset(
            name,
            AssetKind.ELEMENT,
            pos,
            base_dir=base_dir,
            element_id=element["id"],
            element_role=role,
        )
    return None


def _frame(doc: Document, path: NodePath, raw: Any) -> FrameRef | None:
    pos = doc.pos(path)
    if isinstance(raw, str):
        return FrameRef(pos, asset=raw)
    if isinstance(raw, dict) and isinstance(raw.get("from"), str):
        frame = str(raw["frame"]) if raw.get("frame") in ("first", "last") else FrameRef.frame
        return FrameRef(pos, scene=raw["from"], frame=frame)
    return None


def _video(doc: Document, path: NodePath, raw: dict[str, Any]) -> VideoRef | None:
    if isinstance(raw.get("edit"), str):
        return VideoRef(doc.pos((*path, "edit")), "base", scene=raw["edit"], via_edit=True)
    video = raw.get("video")
    if not isinstance(video, dict):
        return None
    refer = str(video["refer"]) if video.get("refer") in api.REFER_TYPES else VideoRef.refer
    asset = video.get("asset") if isinstance(video.get("asset"), str) else None
    scene = video.get("from") if isinstance(video.get("from"), str) else None
    if asset is None and scene is None:
        return None
    keep = video.get("keep_sound") if isinstance(video.get("keep_sound"), bool) else None
    return VideoRef(doc.pos((*path, "video")), refer, asset=asset, scene=scene, keep_sound=keep)


def _names(doc: Document, path: NodePath, raw: Any) -> list[NamedRef]:
    if not isinstance(raw, list):
        return []
    return [NamedRef(n, doc.pos((*path, i))) for i, n in enumerate(raw) if isinstance(n, str)]


def _shots(doc: Document, path: NodePath, raw: dict[str, Any]) -> tuple[list[Shot], bool]:
    shots_raw = raw.get("shots")
    if isinstance(shots_raw, list):
        shots = []
        for i, item in enumerate(shots_raw):
            sp = (*path, "shots", i)
            if not isinstance(item, dict):
                continue
            duration = _get(item, "duration", int)
            shots.append(
                Shot(
                    index=i + 1,
                    prompt=_get(item, "prompt", str),
                    duration=duration,
                    pos=doc.pos(sp),
                    prompt_pos=doc.pos((*sp, "prompt")),
                    duration_pos=doc.pos((*sp, "duration")),
                    name=_get(item, "id", str),
                    path=(*sp, "prompt"),
                )
            )
        return shots, True
    if "prompt" in raw or "duration" in raw:
        one = Shot(
            index=1,
            prompt=_get(raw, "prompt", str),
            duration=_get(raw, "duration", int),
            pos=doc.pos(path),
            prompt_pos=doc.pos((*path, "prompt")),
            duration_pos=doc.pos((*path, "duration")),
            path=(*path, "prompt"),
        )
        return [one], False
    return [], False


def build_storyboard(doc: Document) -> Storyboard:
    """Normalise a loaded document (whatever the schema said about it)."""
    data = doc.data
    defaults = _settings(data.get("defaults"), Settings())
    assets: dict[str, Asset] = {}
    raw_assets = data.get("assets")
    if isinstance(raw_assets, dict):
        for name, raw in raw_assets.items():
            asset = _asset(doc, str(name), raw)
            if asset is not None:
                assets[str(name)] = asset
    scenes: list[Scene] = []
    raw_scenes = data.get("scenes")
    for i, raw in enumerate(raw_scenes if isinstance(raw_scenes, list) else []):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        path: NodePath = ("scenes", i)
        shots, multi = _shots(doc, path, raw)
        scenes.append(
            Scene(
                id=raw["id"],
                index=i,
                pos=doc.pos((*path, "id")),
                settings=_settings(raw, defaults),
                shots=shots,
                multi=multi,
                first_frame=_frame(doc, (*path, "first_frame"), raw.get("first_frame")),
                end_frame=_frame(doc, (*path, "end_frame"), raw.get("end_frame")),
                images=_names(doc, (*path, "images"), raw.get("images")),
                elements=_names(doc, (*path, "elements"), raw.get("elements")),
                video=_video(doc, path, raw),
                keys=frozenset(k for k in raw if isinstance(k, str)),
            )
        )
    raw_vars = data.get("vars")
    root_raw = _get(data, "asset_root", str)
    base_dir = doc.path.parent
    return Storyboard(
        doc=doc,
        path=doc.path,
        title=_get(data, "title", str) or doc.path.stem,
        output=_get(data, "output", str),
        vars=dict(raw_vars) if isinstance(raw_vars, dict) else {},
        assets=assets,
        scenes=scenes,
        cut=_cut(doc, data.get("cut"), scenes),
        cut_explicit=isinstance(data.get("cut"), list),
        audio=_audio(doc, data.get("audio")),
        film=_film(data.get("film")),
        assets_base_url=_get(data, "assets_base_url", str),
        asset_root=_resolved(base_dir / root_raw if root_raw else base_dir),
    )


def _resolved(path: Path) -> Path:
    """`path` resolved, or as written when the OS refuses it (a NUL byte, a symlink
    loop): lint reports that at the line that names it."""
    try:
        return path.resolve()
    except (ValueError, OSError, RuntimeError):
        return path


def _cut(doc: Document, raw: Any, scenes: list[Scene]) -> list[CutItem]:
    if not isinstance(raw, list):
        return [CutItem(s.id, s.pos) for s in scenes]
    entries = []
    for i, item in enumerate(raw):
        pos = doc.pos(("cut", i))
        if isinstance(item, str):
            entries.append(CutItem(item, pos))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("scene"), str):
            continue
        trim = item.get("trim")
        trim_pair = None
        if (
            isinstance(trim, list)
            and len(trim) == 2
            and all(isinstance(t, int | float) and not isinstance(t, bool) for t in trim)
        ):
            trim_pair = (float(trim[0]), float(trim[1]))
        transition = Transition()
        tr = item.get("transition")
        if isinstance(tr, dict) and isinstance(tr.get("type"), str):
            dur = _get(tr, "duration", (int, float), None)
            default = Transition.duration if tr["type"] == "cut" else TRANSITION_SECONDS
            transition = Transition(tr["type"], float(default if dur is None else dur))
        entries.append(CutItem(item["scene"], pos, trim_pair, transition))
    return entries


def _audio(doc: Document, raw: Any) -> Audio | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("music"), str):
        return None
    num = (int, float)
    return Audio(
        music=raw["music"],
        volume=float(_get(raw, "volume", num, Audio.volume)),
        fade_in=float(_get(raw, "fade_in", num, Audio.fade_in)),
        fade_out=float(_get(raw, "fade_out", num, Audio.fade_out)),
        loop=_get(raw, "loop", bool, Audio.loop),
        duck=_get(raw, "duck", bool, Audio.duck),
        pos=doc.pos(("audio", "music")),
    )


def _film(raw: Any) -> Film:
    if not isinstance(raw, dict):
        return Film()
    size = None
    text = _get(raw, "size", str)
    if text and text != "first":
        width, _, height = text.partition("x")
        if width.isdigit() and height.isdigit():
            size = (int(width), int(height))
    loudness = _get(raw, "loudness", (int, float))
    return Film(
        size=size,
        loudness=float(loudness) if loudness is not None else None,
        normalise=raw.get("loudness") is not False,
        crf=_get(raw, "crf", int),
        preset=_get(raw, "preset", str),
        audio_bitrate=_get(raw, "audio_bitrate", str),
    )
