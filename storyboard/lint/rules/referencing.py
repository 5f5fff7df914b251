"""References: assets, scenes and indexed tokens; settings that depend on them.

FAIL (SB301): `keeper` is not defined under `assets:`.

    assets:
      lighthouse: {image: assets/lighthouse.png}
    scenes:
      - id: a
        first_frame: keepr

PASS: `first_frame: lighthouse`.
"""

from __future__ import annotations

from collections.abc import Iterator

from storyboard.compile.references import HANDWRITTEN
from storyboard.language.model import AssetKind, FrameRef, NamedRef, Scene
from storyboard.lint.rules import Context, Rule, locate, problem
from storyboard.problems import Pos, Problem, Severity, did_you_mean
from storyboard.provider import api

IMG = "assets:\n  pic: {image: https://example.com/p.png}\n  hero: {element: 42}\n"
HEAD = "storyboard: 1\n" + IMG + "scenes:\n"
RESERVED = ("scene", "shot")
LOW, HIGH = api.MIN_VIDEO_REF_SECONDS, api.MAX_VIDEO_REF_SECONDS  # R20
VIDEO_SECONDS = f"{LOW}-{HIGH}"

RULES = {
    r.code: r
    for r in (
        Rule(
            "SB301",
            "",
            "references name a defined asset",
            HEAD + "  - {id: a, first_frame: pik, prompt: x, duration: 5}\n",
            (6, 26),
            HEAD + "  - {id: a, first_frame: pic, prompt: x, duration: 5}\n",
        ),
        Rule(
            "SB302",
            "R10",
            "each slot takes an asset of the right kind",
            HEAD + "  - {id: a, first_frame: hero, prompt: x, duration: 5}\n",
            (6, 26),
            HEAD + "  - {id: a, first_frame: pic, prompt: x, duration: 5}\n",
        ),
        Rule(
            "SB303",
            "",
            "references name a defined scene",
            HEAD + "  - {id: a, prompt: x, duration: 5}\n  - {id: b, edit: c, prompt: y}\n",
            (7, 19),
            HEAD + "  - {id: a, prompt: x, duration: 5}\n  - {id: b, edit: a, prompt: y}\n",
        ),
        Rule(
            "SB304",
            "R4",
            "prompt tokens refer to assets the task has",
            HEAD + "  - {id: a, images: [pic], prompt: '<<<image_2>>> glows', duration: 5}\n",
            (6, 37),
            HEAD + "  - {id: a, images: [pic], prompt: '<<<image_1>>> glows', duration: 5}\n",
        ),
        Rule(
            "SB305",
            "",
            "a variable may not share a name with an asset",
            "storyboard: 1\nvars: {pic: red}\n" + IMG + "scenes:\n"
            "  - {id: a, prompt: x, duration: 5}\n",
            (2, 8),
            "storyboard: 1\nvars: {colour: red}\n" + IMG + "scenes:\n"
            "  - {id: a, prompt: x, duration: 5}\n",
        ),
        Rule(
            "SB306",
            "R4",
            "asset names may not look like indexed tokens",
            "storyboard: 1\nassets:\n  image_1: {image: https://example.com/p.png}\n"
            "scenes:\n  - {id: a, prompt: x, duration: 5}\n",
            (3, 3),
            "storyboard: 1\nassets:\n  photo: {image: https://example.com/p.png}\n"
            "scenes:\n  - {id: a, prompt: x, duration: 5}\n",
        ),
        Rule(
            "SB307",
            "R16",
            "sound must be off with a reference video",
            "storyboard: 1\nassets:\n  v: {video: https://example.com/v.mp4}\nscenes:\n"
            "  - {id: a, video: {asset: v}, sound: true, prompt: x, duration: 5}\n",
            (5, 39),
            "storyboard: 1\nassets:\n  v: {video: https://example.com/v.mp4}\nscenes:\n"
            "  - {id: a, video: {asset: v}, prompt: x, duration: 5}\n",
        ),
        Rule(
            "SB308",
            "R13",
            "local videos need assets_base_url to reach the API",
            "storyboard: 1\nassets:\n  v: {video: clip.mp4}\nscenes:\n"
            "  - {id: a, video: {asset: v}, prompt: x, duration: 5}\n",
            (3, 14),
            "storyboard: 1\nassets_base_url: https://cdn.example.com/f/\nassets:\n"
            "  v: {video: clip.mp4}\nscenes:\n"
            "  - {id: a, video: {asset: v}, prompt: x, duration: 5}\n",
            Severity.WARNING,
        ),
        Rule(
            "SB309",
            "R18",
            "aspect_ratio is ignored when a first frame sets the picture",
            HEAD + "  - {id: a, first_frame: pic, aspect_ratio: '9:16', prompt: x, duration: 5}\n",
            (6, 45),
            HEAD + "  - {id: a, first_frame: pic, prompt: x, duration: 5}\n",
            Severity.WARNING,
        ),
        Rule(
            "SB311",
            "R20",
            f"a referenced or edited scene is one task of {VIDEO_SECONDS} s",
            HEAD + "  - {id: a, prompt: x, duration: 12}\n  - {id: b, edit: a, prompt: y}\n",
            (7, 19),
            HEAD + "  - {id: a, prompt: x, duration: 8}\n  - {id: b, edit: a, prompt: y}\n",
        ),
    )
}


def check(ctx: Context) -> Iterator[Problem]:
    story = ctx.story
    yield from _names(ctx)
    scene_ids = [s.id for s in story.scenes]
    for scene in story.scenes:
        for frame, slot in ((scene.first_frame, "first_frame"), (scene.end_frame, "end_frame")):
            if frame is not None:
                yield from _frame(ctx, scene, frame, slot, scene_ids)
        for refs, kind, slot in (
            (scene.images, AssetKind.IMAGE, "images"),
            (scene.elements, AssetKind.ELEMENT, "elements"),
        ):
            for ref in refs:
                yield from _asset(ctx, ref, kind, slot)
        video = scene.video
        if video is not None:
            if video.asset is not None:
                yield from _asset(ctx, NamedRef(video.asset, video.pos), AssetKind.VIDEO, "video")
            if video.scene is not None:
                yield from _scene_ref(ctx, scene, video.scene, video.pos, scene_ids)
            if scene.settings.sound:
                key = "sound" if "sound" in scene.keys else None
                pos = ctx.doc.pos(("scenes", scene.index, "sound")) if key else scene.pos
                yield problem(
                    RULES["SB307"],
                    pos,
                    f"scene {scene.id!r} has a reference video, so sound must be off",
                    hint="set sound: false (the default) on this scene",
                )
        if "aspect_ratio" in scene.keys and scene.first_frame is not None and not scene.is_edit:
            yield problem(
                RULES["SB309"],
                ctx.doc.pos(("scenes", scene.index, "aspect_ratio")),
                f"scene {scene.id!r} has a first frame, so its aspect_ratio is not sent",
                hint="the output takes the first frame's aspect; remove aspect_ratio",
            )
    yield from _prompt_tokens(ctx)


def _names(ctx: Context) -> Iterator[Problem]:
    story = ctx.story
    for name, asset in story.assets.items():
        if name in story.vars:
            yield problem(
                RULES["SB305"],
                ctx.doc.pos(("vars", name), key=True),
                f"{name!r} is both a variable and an asset",
                hint="rename one of them; in a prompt the name must mean one thing",
            )
        if HANDWRITTEN.match(name):
            yield problem(
                RULES["SB306"],
                asset.pos,
                f"asset name {name!r} looks like an indexed token <<<{name}>>>",
                hint="choose a descriptive name",
            )
        if asset.kind is AssetKind.VIDEO and asset.is_local and not story.assets_base_url:
            yield problem(
                RULES["SB308"],
                asset.source_pos or asset.pos,
                f"video {name!r} is a local file; the API takes videos by URL only",
                hint="set assets_base_url: to where this folder is published "
                "(the preview backend and the mock read it locally)",
            )
    for name in RESERVED:
        if name in story.vars:
            yield problem(
                RULES["SB305"],
                ctx.doc.pos(("vars", name), key=True),
                f"{name!r} is reserved in prompts (the current {name})",
                hint="rename the variable",
            )


def _asset(ctx: Context, ref: NamedRef, kind: AssetKind, slot: str) -> Iterator[Problem]:
    asset = ctx.story.assets.get(ref.name)
    if asset is None:
        if ref.name not in _raw_assets(ctx):
            yield problem(
                RULES["SB301"],
                ref.pos,
                f"undefined asset {ref.name!r} in {slot}",
                hint=did_you_mean(ref.name, list(ctx.story.assets)),
            )
        return
    if asset.kind is not kind:
        yield problem(
            RULES["SB302"],
            ref.pos,
            f"{slot} takes {kind.value} assets; {ref.name!r} is {asset.kind.value}",
        )


def _raw_assets(ctx: Context) -> dict[str, object]:
    raw = ctx.doc.data.get("assets")
    return raw if isinstance(raw, dict) else {}


def _frame(
    ctx: Context, scene: Scene, ref: FrameRef, slot: str, scene_ids: list[str]
) -> Iterator[Problem]:
    if ref.asset is not None:
        yield from _asset(ctx, NamedRef(ref.asset, ref.pos), AssetKind.IMAGE, slot)
    elif ref.scene is not None:
        yield from _scene_ref(ctx, scene, ref.scene, ref.pos, scene_ids, video=False)


def _scene_ref(
    ctx: Context, scene: Scene, target: str, pos: Pos, scene_ids: list[str], *, video: bool = True
) -> Iterator[Problem]:
    if target not in scene_ids:
        yield problem(
            RULES["SB303"],
            pos,
            f"undefined scene {target!r}",
            hint=did_you_mean(target, scene_ids),
        )
        return
    if not video or target == scene.id:
        return
    plan = ctx.plans.get(target)
    if plan is None or plan.split is None:
        return  # its own problems are reported at that scene
    if len(plan.split) > 1:
        yield problem(
            RULES["SB311"],
            pos,
            f"scene {target!r} is split into {len(plan.split)} tasks; a reference or edit "
            f"needs one clip of {VIDEO_SECONDS} s",
            hint=f"shorten {target!r} to {HIGH} s or less",
        )
        return
    seconds = ctx.story.clip_seconds(target)
    if seconds is not None and not LOW <= seconds <= HIGH:
        yield problem(
            RULES["SB311"],
            pos,
            f"scene {target!r} lasts {seconds} s; a reference video must last {VIDEO_SECONDS} s",
            hint=f"make {target!r} {VIDEO_SECONDS} s long",
        )


INDEXED_HINT = "indexed tokens count from 1 into the scene's images:/elements: lists"


def token_hint(token: str, assets: list[str]) -> str:
    """The hint for a prompt token that does not resolve. Only `<<<image_N>>>`,
    `<<<element_N>>>` and `<<<video_N>>>` count into the scene's lists; any other
    name means an asset, so its hint is about the assets there are."""
    name = token.removeprefix("<<<").removesuffix(">>>")
    if HANDWRITTEN.match(name):
        return INDEXED_HINT
    if name in assets:
        return ""  # defined, but of a kind the slot cannot take: the message says it
    known = ", ".join(assets) if assets else "none"
    close = did_you_mean(name, assets)
    define = f"`assets: {{{name}: {{image: assets/{name}.png}}}}`"
    if close:
        return f"no asset named {name!r}; assets: {known}; {close} Or define it: {define}"
    return f"no asset named {name!r}; assets: {known}; define it: {define}"


def _prompt_tokens(ctx: Context) -> Iterator[Problem]:
    assets = list(ctx.story.assets)
    for spec in ctx.specs:
        for error in spec.resolved.errors:
            shot = spec.shots[error.shot]
            pos = locate(ctx, shot.prompt_pos, error.token)
            rule = RULES["SB304"]
            yield Problem.at(
                pos,
                rule.code,
                error.message,
                rule=error.rule,
                hint=token_hint(error.token, assets),
            )
