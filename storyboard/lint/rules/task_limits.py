"""Task limits: durations, shot counts, reference counts, frames, prompt lengths, packing.

Checked on the tasks the compiler would emit (same code), so a scene that
is split into parts is judged part by part, and lengths are measured on the
rendered text with indexed tokens, as it would be sent (R4, R6).

FAIL (SB211): a task lasts 3-15 s (R19), so no task can hold a longer shot.

    scenes:
      - {id: a, prompt: x, duration: 20}

PASS: `duration: 15`, or shots that the compiler can split.

NOTE (SB220): a scene too long for one task is split, and lint says how, so
that no request is made that the storyboard does not show. A note never fails
lint, not with --strict either: the split is what the author asked for.
"""

from __future__ import annotations

from collections.abc import Iterator

from storyboard.compile.specs import ScenePlan, TaskSpec
from storyboard.language.model import Scene
from storyboard.lint.rules import Context, Rule, problem
from storyboard.problems import Pos, Problem, Severity
from storyboard.provider import api

HEAD = "storyboard: 1\nscenes:\n"
IMGS = "".join(f"  i{n}: {{image: https://example.com/{n}.png}}\n" for n in range(1, 9))
REFS = "storyboard: 1\nassets:\n" + IMGS + "scenes:\n"
LONG = "x" * (api.MAX_SHOT_PROMPT_CHARS + 1)
TASK = f"{api.MIN_TASK_SECONDS}-{api.MAX_TASK_SECONDS} s"  # R19
VIDEO_TASK = f"{api.MIN_VIDEO_REF_SECONDS}-{api.MAX_VIDEO_REF_SECONDS} s"  # R20
SEVEN_SHOTS = "  - id: method\n    shots:\n" + "      - {duration: 2, prompt: x}\n" * 7

RULES = {
    r.code: r
    for r in (
        Rule(
            "SB211",
            "R19",
            f"a task lasts {TASK}",
            HEAD + "  - {id: a, prompt: x, duration: 20}\n",
            (3, 34),
            HEAD + "  - {id: a, prompt: x, duration: 15}\n",
        ),
        Rule(
            "SB212",
            "R20",
            f"with a reference video a task lasts {VIDEO_TASK}",
            "storyboard: 1\nassets: {v: {video: https://example.com/v.mp4}}\nscenes:\n"
            "  - {id: a, video: {asset: v}, prompt: x, duration: 12}\n",
            (4, 53),
            "storyboard: 1\nassets: {v: {video: https://example.com/v.mp4}}\nscenes:\n"
            "  - {id: a, video: {asset: v}, prompt: x, duration: 10}\n",
        ),
        Rule(
            "SB213",
            "R19",
            f"a one-shot scene lasts at least {api.MIN_TASK_SECONDS} s (it cannot be split)",
            HEAD + "  - {id: a, prompt: x, duration: 2}\n",
            (3, 34),
            HEAD + "  - {id: a, prompt: x, duration: 3}\n",
        ),
        Rule(
            "SB214",
            "R10",
            "an end frame needs a first frame; no end frame with "
            f"{api.MAX_IMAGES_WITH_END_FRAME + 1}+ images",
            REFS + "  - {id: a, end_frame: i1, prompt: x, duration: 5}\n",
            (12, 24),
            REFS + "  - {id: a, first_frame: i2, end_frame: i1, prompt: x, duration: 5}\n",
        ),
        Rule(
            "SB215",
            "R11",
            f"images + elements: at most {api.MAX_REFS_WITHOUT_VIDEO}, "
            f"or {api.MAX_REFS_WITH_VIDEO} with a reference video",
            REFS + "  - {id: a, images: [i1, i2, i3, i4, i5, i6, i7, i8], prompt: x, "
            "duration: 5}\n",
            (12, 21),
            REFS + "  - {id: a, images: [i1, i2, i3, i4, i5, i6, i7], prompt: x, duration: 5}\n",
        ),
        Rule(
            "SB216",
            "R12",
            f"at most {api.MAX_ELEMENTS_WITH_FRAME} elements with a first frame; "
            "no video-role subject with a reference video",
            "storyboard: 1\nassets:\n  f: {image: https://example.com/f.png}\n"
            "  e1: {element: 1}\n  e2: {element: 2}\n  e3: {element: 3}\n  e4: {element: 4}\n"
            "scenes:\n  - {id: a, first_frame: f, elements: [e1, e2, e3, e4], prompt: x, "
            "duration: 5}\n",
            (9, 39),
            "storyboard: 1\nassets:\n  f: {image: https://example.com/f.png}\n"
            "  e1: {element: 1}\n  e2: {element: 2}\n  e3: {element: 3}\n  e4: {element: 4}\n"
            "scenes:\n  - {id: a, first_frame: f, elements: [e1, e2, e3], prompt: x, "
            "duration: 5}\n",
        ),
        Rule(
            "SB217",
            "R7",
            "a scene too big for one task must split into valid parts",
            HEAD + "  - id: a\n    shots:\n      - {duration: 14, prompt: x}\n"
            "      - {duration: 2, prompt: y}\n",
            (4, 5),
            HEAD + "  - id: a\n    shots:\n      - {duration: 12, prompt: x}\n"
            "      - {duration: 4, prompt: y}\n",
        ),
        Rule(
            "SB218",
            "R4",
            f"a prompt is at most {api.MAX_PROMPT_CHARS} characters as sent",
            HEAD + "  - {id: a, prompt: '" + "x" * (api.MAX_PROMPT_CHARS + 1) + "', duration: 5}\n",
            (3, 21),
            HEAD + "  - {id: a, prompt: '" + "x" * api.MAX_PROMPT_CHARS + "', duration: 5}\n",
        ),
        Rule(
            "SB219",
            "R6",
            f"a shot prompt is at most {api.MAX_SHOT_PROMPT_CHARS} characters as sent",
            HEAD + "  - id: a\n    shots:\n      - {duration: 2, prompt: " + LONG + "}\n"
            "      - {duration: 2, prompt: y}\n",
            (5, 31),
            HEAD + "  - id: a\n    shots:\n      - {duration: 2, prompt: " + LONG[1:] + "}\n"
            "      - {duration: 2, prompt: y}\n",
        ),
        Rule(
            "SB220",
            "R5",
            f"a scene of more than {api.MAX_SHOTS} shots or {api.MAX_TASK_SECONDS} s is split "
            "into tasks (a note: nothing to fix)",
            HEAD + SEVEN_SHOTS,
            (3, 9),
            HEAD + SEVEN_SHOTS.replace("      - {duration: 2, prompt: x}\n", "", 1),
            Severity.NOTE,
        ),
    )
}

CODE_BY_RULE = {
    "R19": "SB211",
    "R20": "SB212",
    "R5": "SB217",
    "R10": "SB214",
    "R11": "SB215",
    "R12": "SB216",
}


def _key(ctx: Context, scene: Scene, key: str) -> Pos:
    return ctx.doc.pos(("scenes", scene.index, key), key=True)


def _where(ctx: Context, scene: Scene, rule: str) -> Pos:
    keys = scene.keys
    path = ("scenes", scene.index)
    if rule in ("R19", "R20") and "duration" in keys:
        return ctx.doc.pos((*path, "duration"))
    if rule == "R20" and "video" in keys:
        return ctx.doc.pos((*path, "video"))
    if rule == "R10" and "end_frame" in keys:
        return ctx.doc.pos((*path, "end_frame"))
    if rule == "R12" and "elements" in keys:
        return ctx.doc.pos((*path, "elements"))
    if rule == "R11":
        for key in ("images", "elements", "first_frame"):
            if key in keys:
                return ctx.doc.pos((*path, key))
    if "shots" in keys:
        return _key(ctx, scene, "shots")
    return scene.pos


def check(ctx: Context) -> Iterator[Problem]:
    for plan in ctx.plans.values():
        yield from _packing(ctx, plan)
    for spec in ctx.specs:
        multi = len(spec.shots) > 1
        limit = api.MAX_SHOT_PROMPT_CHARS if multi else api.MAX_PROMPT_CHARS
        rule = RULES["SB219" if multi else "SB218"]
        for shot, text in zip(spec.shots, spec.resolved.prompts, strict=True):
            if len(text) > limit:
                where = "shot prompt" if multi else "prompt"
                yield problem(
                    rule,
                    shot.prompt_pos,
                    f"{where} is {len(text)} characters as sent (task {spec.id}); at most {limit}",
                    hint="shorten it; lengths count rendered variables and tokens",
                )


# Why a scene is split, most telling first: too many shots, too long, then references.
SPLIT_BECAUSE = ("R5", "R19", "R20", "R10", "R11", "R12")


def _split_note(ctx: Context, plan: ScenePlan) -> Iterator[Problem]:
    """Say how a scene is split into tasks, at the scene: the compiler does it
    unasked, and each part is a request of its own."""
    scene = plan.scene
    parts: list[TaskSpec] = [s for s in ctx.specs if s.scene is scene]
    if len(parts) < 2:
        return
    said = ", ".join(f"{p.id} ({p.seconds} s)" for p in parts)
    joined = (
        "each part starts on the last frame of the one before"
        if scene.settings.continuity
        else "the parts are rendered apart (continuity: false)"
    )
    why = {rule_id for rule_id, _ in plan.whole}
    rule = next((r for r in SPLIT_BECAUSE if r in why), RULES["SB220"].rule)
    yield Problem.at(
        scene.pos,
        "SB220",
        f"scene {scene.id!r} ({len(scene.shots)} shots, {scene.duration} s) is split into "
        f"{len(parts)} tasks: {said}; {joined}",
        rule=rule,
        hint=f"nothing to change; one task holds at most {api.MAX_SHOTS} shots and "
        f"{api.MAX_TASK_SECONDS} s, so write several scenes to choose the cuts yourself",
        severity=Severity.NOTE,
    )


def _packing(ctx: Context, plan: ScenePlan) -> Iterator[Problem]:
    scene = plan.scene
    if scene.is_edit:
        return
    if plan.split is not None:
        yield from _split_note(ctx, plan)
        return
    if any(s.duration is None for s in scene.shots) or not scene.shots:
        return  # missing durations are reported by structure and the schema
    if not scene.multi:
        for rule_id, message in plan.whole:
            code = CODE_BY_RULE[rule_id]
            hint = ""
            if rule_id == "R19" and (scene.duration or 0) > api.MAX_TASK_SECONDS:
                code = "SB211"
                hint = "write the scene as shots: the compiler splits long scenes into parts"
            elif rule_id == "R19":
                code = "SB213"
                hint = f"a task lasts at least {api.MIN_TASK_SECONDS} s"
            yield problem(RULES[code], _where(ctx, scene, rule_id), message, hint)
        return
    # A shot no task can hold is reported where it is, not at the scene: no split helps.
    too_long = list(_too_long_shots(scene))
    yield from too_long
    fits_one = len(scene.shots) <= api.MAX_SHOTS and (scene.duration or 0) <= api.MAX_TASK_SECONDS
    if fits_one:
        for rule_id, message in plan.whole:
            if not (too_long and rule_id in ("R19", "R20")):
                yield problem(RULES[CODE_BY_RULE[rule_id]], _where(ctx, scene, rule_id), message)
        return
    if too_long:
        return
    reasons = "; ".join(sorted({m for _, m in plan.whole}))
    durations = ", ".join(str(s.duration) for s in scene.shots)
    yield problem(
        RULES["SB217"],
        _key(ctx, scene, "shots"),
        f"scene {scene.id!r} ({len(scene.shots)} shots: {durations} s) cannot be split into "
        f"valid tasks; as one task: {reasons}",
        hint=f"each part needs 1-{api.MAX_SHOTS} whole shots lasting {TASK} ({VIDEO_TASK} with "
        "a reference video) and its references within R10-R12; regroup or resize the shots",
    )


def _a(number: int) -> str:
    """The article before a number said aloud: an 8, an 11, an 18, a 16."""
    return "an" if str(number).startswith("8") or number in (11, 18) else "a"


def _too_long_shots(scene: Scene) -> Iterator[Problem]:
    """Shots longer than any task may last (R19; R20 with a reference video), at their
    own duration: the packer never splits a shot, so no split can hold them."""
    if scene.video is not None:
        code, low, high = "SB212", api.MIN_VIDEO_REF_SECONDS, api.MAX_VIDEO_REF_SECONDS
        extra = " with a reference video"
    else:
        code, low, high, extra = "SB211", api.MIN_TASK_SECONDS, api.MAX_TASK_SECONDS, ""
    for shot in scene.shots:
        if shot.duration is not None and shot.duration > high:
            yield problem(
                RULES[code],
                shot.duration_pos,
                f"no task can hold {_a(shot.duration)} {shot.duration} s shot{extra} "
                f"({low}-{high} s)",
                hint=f"make shot {shot.index} of scene {scene.id!r} {high} s or shorter "
                "(split it into several shots)",
            )
