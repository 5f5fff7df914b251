"""References: which assets a task uses, in which order, and its prompts rewritten.

Pure: the scene and its assets are built in code, no file is read. The order of
`image_list` is DESIGN §2's: the scene's explicit `images`, then images named in
the prompts in order of first appearance, then frames not already listed.
"""

from __future__ import annotations

from storyboard.compile.references import FrameSource, ImageSlot, RefError, resolve_references
from storyboard.language.model import Asset, AssetKind, NamedRef, Scene, Settings, VideoRef
from storyboard.problems import Pos

HERE = Pos("storyboard.yaml", 1, 1)


def image(name: str) -> Asset:
    return Asset(name, AssetKind.IMAGE, HERE, source=f"assets/{name}.png")


def element(name: str, number: int, role: str = "image") -> Asset:
    return Asset(name, AssetKind.ELEMENT, HERE, element_id=number, element_role=role)


def video(name: str) -> Asset:
    return Asset(name, AssetKind.VIDEO, HERE, source=f"assets/{name}.mp4")


ASSETS = {
    a.name: a
    for a in (
        image("castle"),
        image("keeper"),
        image("lamp"),
        element("mira", 101),
        element("hero", 202),
        video("storm"),
        video("surf"),
    )
}


def scene(
    images: tuple[str, ...] = (), elements: tuple[str, ...] = (), clip: VideoRef | None = None
) -> Scene:
    return Scene(
        id="s",
        index=0,
        pos=HERE,
        settings=Settings(),
        images=[NamedRef(n, HERE) for n in images],
        elements=[NamedRef(n, HERE) for n in elements],
        video=clip,
    )


def slot(
    asset: str | None = None, kind: str | None = None, placeholder: str | None = None
) -> ImageSlot:
    return ImageSlot(FrameSource(asset=asset, placeholder=placeholder), kind)


def test_explicit_images_then_named_in_order_of_first_appearance_then_frames() -> None:
    resolved = resolve_references(
        scene(images=("castle",)),
        ASSETS,
        ["<<<keeper>>> at <<<castle>>>", "<<<lamp>>>, then <<<keeper>>> again"],
        first_frame=FrameSource(asset="keeper"),
        end_frame=FrameSource(placeholder="${task:next:first_frame}"),
        has_video=False,
    )
    assert resolved.images == [
        slot("castle"),
        slot("keeper", "first_frame"),  # a frame already listed is marked, not added
        slot("lamp"),
        slot(kind="end_frame", placeholder="${task:next:first_frame}"),
    ]
    assert resolved.prompts == [
        "<<<image_2>>> at <<<image_1>>>",
        "<<<image_3>>>, then <<<image_2>>> again",
    ]
    assert resolved.errors == []
    assert resolved.first_frame and resolved.end_frame


def test_elements_explicit_then_named_each_once() -> None:
    resolved = resolve_references(
        scene(elements=("hero",)),
        ASSETS,
        ["<<<mira>>> meets <<<hero>>>", "<<<mira>>> leaves"],
        first_frame=None,
        end_frame=None,
        has_video=False,
    )
    assert [e.name for e in resolved.elements] == ["hero", "mira"]
    assert resolved.prompts == ["<<<element_2>>> meets <<<element_1>>>", "<<<element_2>>> leaves"]
    assert resolved.images == []
    assert not resolved.first_frame and not resolved.end_frame


def test_a_handwritten_index_means_the_scenes_nth_explicit_reference() -> None:
    # lamp is named first, yet <<<image_1>>> is the scene's first listed image (castle),
    # which also comes first in the task's own numbering.
    resolved = resolve_references(
        scene(images=("castle", "keeper"), elements=("mira",)),
        ASSETS,
        ["<<<lamp>>> beside <<<image_2>>>, <<<image_1>>> and <<<element_1>>>"],
        first_frame=None,
        end_frame=None,
        has_video=False,
    )
    assert [s.source.asset for s in resolved.images] == ["castle", "keeper", "lamp"]
    assert resolved.prompts == [
        "<<<image_3>>> beside <<<image_2>>>, <<<image_1>>> and <<<element_1>>>"
    ]


def test_a_handwritten_index_out_of_range_is_an_r4_error_left_in_place() -> None:
    resolved = resolve_references(
        scene(images=("castle",)),
        ASSETS,
        ["first", "<<<image_2>>> and <<<element_1>>>"],
        first_frame=None,
        end_frame=None,
        has_video=False,
    )
    assert resolved.prompts == ["first", "<<<image_2>>> and <<<element_1>>>"]
    assert resolved.errors == [
        RefError(
            "<<<image_2>>> is out of range: the scene lists 1 image(s) in `images:`",
            "<<<image_2>>>",
            1,
        ),
        RefError(
            "<<<element_1>>> is out of range: the scene lists 0 element(s) in `elements:`",
            "<<<element_1>>>",
            1,
        ),
    ]
    assert {e.rule for e in resolved.errors} == {"R4"}


def test_an_undefined_name_is_an_error_at_its_shot() -> None:
    resolved = resolve_references(
        scene(),
        ASSETS,
        ["<<<castle>>>", "<<<castle>>> and <<<ghost>>>"],
        first_frame=None,
        end_frame=None,
        has_video=False,
    )
    assert resolved.prompts == ["<<<image_1>>>", "<<<image_1>>> and <<<ghost>>>"]
    assert resolved.errors == [RefError("undefined asset 'ghost' in <<<ghost>>>", "<<<ghost>>>", 1)]


def test_the_reference_video_is_video_1_by_name_or_by_hand() -> None:
    storm = VideoRef(HERE, "feature", asset="storm")
    resolved = resolve_references(
        scene(clip=storm),
        ASSETS,
        ["the waves of <<<storm>>>, as in <<<video_1>>>"],
        first_frame=None,
        end_frame=None,
        has_video=True,
    )
    assert resolved.prompts == ["the waves of <<<video_1>>>, as in <<<video_1>>>"]
    assert resolved.errors == []


def test_a_video_that_is_not_the_scenes_reference_is_an_r13_error() -> None:
    storm = VideoRef(HERE, "feature", asset="storm")
    resolved = resolve_references(
        scene(clip=storm),
        ASSETS,
        ["<<<surf>>> and <<<video_2>>>"],
        first_frame=None,
        end_frame=None,
        has_video=True,
    )
    assert resolved.prompts == ["<<<surf>>> and <<<video_2>>>"]
    assert [(e.rule, e.token) for e in resolved.errors] == [
        ("R13", "<<<surf>>>"),
        ("R13", "<<<video_2>>>"),
    ]
    assert resolved.errors[0].message == (
        "video asset 'surf' is named in the prompt but is not this scene's `video:` reference"
    )
    assert resolved.errors[1].message == "<<<video_2>>> refers to no reference video"


def test_video_1_without_a_reference_video_is_an_r13_error() -> None:
    resolved = resolve_references(
        scene(), ASSETS, ["<<<video_1>>>"], first_frame=None, end_frame=None, has_video=False
    )
    assert resolved.errors == [
        RefError("<<<video_1>>> refers to no reference video", "<<<video_1>>>", 0, "R13")
    ]


def test_frames_from_other_tasks_come_after_every_named_image() -> None:
    first = FrameSource(placeholder="${task:a:last_frame}")
    end = FrameSource(asset="lamp")
    resolved = resolve_references(
        scene(),
        ASSETS,
        ["<<<castle>>>"],
        first_frame=first,
        end_frame=end,
        has_video=False,
    )
    assert resolved.images == [
        slot("castle"),
        slot(kind="first_frame", placeholder="${task:a:last_frame}"),
        slot("lamp", "end_frame"),
    ]
    assert [s.source.key for s in resolved.images] == ["castle", "${task:a:last_frame}", "lamp"]
