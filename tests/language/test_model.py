"""The model's defaults are the schema's: every `default` the schema states is what
the code does when the storyboard leaves the key out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from storyboard.film.stitch import StitchOptions
from storyboard.language.load import load_document
from storyboard.language.model import AssetKind, Storyboard, build_storyboard
from storyboard.language.schema import storyboard_schema
from storyboard.provider import api

# Every key with a schema default is left out here, where it can be.
SPARSE = """\
storyboard: 1
assets:
  e: {element: {id: 1}}
  v: {video: https://example.com/v.mp4}
scenes:
  - {id: a, prompt: x, duration: 5}
  - {id: b, prompt: y, duration: 5, first_frame: {from: a}, video: {asset: v}}
cut:
  - a
  - {scene: b, transition: {type: fade}}
audio: {music: music.m4a}
"""
STITCHER = StitchOptions()


def _film(story: Storyboard, name: str) -> object:
    """A `film:` setting left out: the model leaves it unset, the stitcher decides."""
    assert story.film.to_json() == {}
    if name == "size":  # None is the first clip's size, which the schema calls "first"
        return "first" if STITCHER.size is None else STITCHER.size
    return getattr(STITCHER, name)


def _audio(story: Storyboard) -> Any:
    assert story.audio is not None
    return story.audio


# What the code does for each schema default, by the default's place in the schema.
CODE: dict[str, Callable[[Storyboard], object]] = {
    "properties/audio/properties/volume": lambda s: _audio(s).volume,
    "properties/audio/properties/fade_in": lambda s: _audio(s).fade_in,
    "properties/audio/properties/fade_out": lambda s: _audio(s).fade_out,
    "properties/audio/properties/loop": lambda s: _audio(s).loop,
    "properties/audio/properties/duck": lambda s: _audio(s).duck,
    "properties/film/properties/size": lambda s: _film(s, "size"),
    "properties/film/properties/loudness": lambda s: _film(s, "loudness"),
    "properties/film/properties/crf": lambda s: _film(s, "crf"),
    "properties/film/properties/preset": lambda s: _film(s, "preset"),
    "properties/film/properties/audio_bitrate": lambda s: _film(s, "audio_bitrate"),
    "$defs/mode": lambda s: s.scenes[0].settings.mode,
    "$defs/aspectRatio": lambda s: s.scenes[0].settings.aspect_ratio,
    "$defs/sound": lambda s: s.scenes[0].settings.sound,
    "$defs/watermark": lambda s: s.scenes[0].settings.watermark,
    "$defs/model": lambda s: s.scenes[0].settings.model,
    "$defs/continuity": lambda s: s.scenes[0].settings.continuity,
    "$defs/takes": lambda s: s.scenes[0].settings.takes,
    "$defs/elementAsset/properties/element/oneOf/1/properties/kind": lambda s: (
        s.assets["e"].element_role
    ),
    "$defs/videoAsset/properties/keep_sound": lambda s: s.assets["v"].keep_sound,
    "$defs/frameRef/oneOf/1/properties/frame": lambda s: s.scenes[1].first_frame.frame,  # type: ignore[union-attr]
    "$defs/videoRef/properties/refer": lambda s: s.scenes[1].video.refer,  # type: ignore[union-attr]
    "$defs/transition/properties/duration": lambda s: s.cut[1].transition.duration,
}


def schema_defaults(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every `default` in the schema, with the place of the node that states it."""
    if isinstance(node, dict):
        if "default" in node:
            yield "/".join(path), node["default"]
        for key, value in node.items():
            yield from schema_defaults(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from schema_defaults(value, (*path, str(i)))


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> Storyboard:
    path = tmp_path_factory.mktemp("defaults") / "storyboard.yaml"
    path.write_text(SPARSE, encoding="utf-8")
    doc, problems = load_document(path)
    assert doc is not None and not problems
    story = build_storyboard(doc)
    assert story.assets["e"].kind is AssetKind.ELEMENT
    return story


def test_every_schema_default_is_checked() -> None:
    """A default added to the schema must be added here too (and held to the code)."""
    assert sorted(p for p, _ in schema_defaults(storyboard_schema())) == sorted(CODE)


@pytest.mark.parametrize(
    ("where", "default"), list(schema_defaults(storyboard_schema())), ids=lambda v: str(v)
)
def test_the_code_default_is_the_schema_default(
    sparse: Storyboard, where: str, default: object
) -> None:
    code = CODE[where](sparse)
    assert code == default and type(code) in (type(default), float), (where, code, default)


def test_the_language_mode_is_not_the_api_default(sparse: Storyboard) -> None:
    """std is the storyboard's choice; a payload without `mode` is pro (R17)."""
    assert sparse.scenes[0].settings.mode == "std" != api.DEFAULT_MODE == "pro"
