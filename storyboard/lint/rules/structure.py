"""Scene shape: one shot, several shots, or an edit; ids; durations.

FAIL (SB202): a one-shot scene needs a duration; no silent API default.

    scenes:
      - id: intro
        prompt: A quiet harbour at dawn

PASS:

    scenes:
      - id: intro
        prompt: A quiet harbour at dawn
        duration: 5
"""

from __future__ import annotations

from collections.abc import Iterator

from storyboard.language.load import NodePath
from storyboard.language.model import Scene
from storyboard.lint.rules import Context, Rule, problem
from storyboard.problems import Problem
from storyboard.provider import api

HEAD = "storyboard: 1\nscenes:\n"

RULES = {
    r.code: r
    for r in (
        Rule(
            "SB201",
            "",
            "a scene is one shot (prompt + duration), several (shots) or an edit",
            HEAD + "  - id: intro\n    shots: [{duration: 3, prompt: a}]\n    prompt: b\n",
            (5, 5),
            HEAD + "  - id: intro\n    shots: [{duration: 3, prompt: a}]\n",
        ),
        Rule(
            "SB202",
            "R19",
            "a one-shot scene needs a duration",
            HEAD + "  - id: intro\n    prompt: A quiet harbour\n",
            (3, 9),
            HEAD + "  - id: intro\n    prompt: A quiet harbour\n    duration: 5\n",
        ),
        Rule(
            "SB203",
            "",
            "scene ids are unique",
            HEAD + "  - {id: a, prompt: x, duration: 3}\n  - {id: a, prompt: y, duration: 3}\n",
            (4, 10),
            HEAD + "  - {id: a, prompt: x, duration: 3}\n  - {id: b, prompt: y, duration: 3}\n",
        ),
        Rule(
            "SB204",
            "R15",
            "a base edit takes its source's length and no frames",
            HEAD + "  - {id: a, prompt: x, duration: 5}\n"
            "  - {id: b, edit: a, prompt: at night, duration: 5}\n",
            (4, 40),
            HEAD + "  - {id: a, prompt: x, duration: 5}\n  - {id: b, edit: a, prompt: at night}\n",
        ),
        Rule(
            "SB205",
            "R2",
            "a single-shot task needs a non-empty prompt",
            HEAD + "  - id: a\n    duration: 5\n",
            (3, 9),
            HEAD + "  - id: a\n    duration: 5\n    prompt: rain on a window\n",
        ),
    )
}


def check(ctx: Context) -> Iterator[Problem]:
    seen: dict[str, object] = {}
    for scene in ctx.story.scenes:
        keys = scene.keys
        path = ("scenes", scene.index)
        if scene.id in seen:
            yield problem(
                RULES["SB203"],
                scene.pos,
                f"scene id {scene.id!r} is used twice",
                hint=f"first used at line {seen[scene.id]}",
            )
        else:
            seen[scene.id] = scene.pos.line
        is_edit = "edit" in keys or scene.is_edit
        if "shots" in keys and keys & {"prompt", "duration"}:
            extra = sorted(keys & {"prompt", "duration"})[0]
            yield problem(
                RULES["SB201"],
                ctx.doc.pos((*path, extra), key=True),
                f"scene {scene.id!r} has both shots and {extra}",
                hint="move the prompt into a shot, or drop shots for a one-shot scene",
            )
        elif "edit" in keys and "video" in keys:
            yield problem(
                RULES["SB201"],
                ctx.doc.pos((*path, "video"), key=True),
                f"scene {scene.id!r} has both edit and video",
                hint="edit: X is video: {from: X, refer: base}; keep one",
            )
        elif not keys & {"shots", "prompt", "duration", "edit"}:
            yield problem(
                RULES["SB201"],
                scene.pos,
                f"scene {scene.id!r} has no prompt, shots or edit",
                hint="add prompt + duration, or shots: [{duration, prompt}, ...]",
            )
        if is_edit:
            yield from _edit(ctx, scene, path)
            continue
        if not scene.multi and "prompt" in keys and "duration" not in keys:
            yield problem(
                RULES["SB202"],
                scene.pos,
                f"scene {scene.id!r} has a prompt but no duration",
                hint=f"add duration: whole seconds, {api.MIN_TASK_SECONDS}-{api.MAX_TASK_SECONDS}",
            )
        if not scene.multi and "duration" in keys and "prompt" not in keys:
            yield problem(
                RULES["SB205"],
                scene.pos,
                f"scene {scene.id!r} has a duration but no prompt",
                hint="add prompt: what happens in the shot",
            )


def _edit(ctx: Context, scene: Scene, path: NodePath) -> Iterator[Problem]:
    keys = scene.keys
    for key in ("duration", "shots", "first_frame", "end_frame"):
        if key in keys:
            what = "length" if key in ("duration", "shots") else "frames"
            yield problem(
                RULES["SB204"],
                ctx.doc.pos((*path, key), key=True),
                f"scene {scene.id!r} is a base edit: it takes its source's {what}; "
                f"{key} cannot be set",
                hint=f"remove {key}",
            )
    if "prompt" not in keys:
        yield problem(
            RULES["SB205"],
            scene.pos,
            f"edit scene {scene.id!r} needs a prompt",
            hint="say what to change, e.g. prompt: same shot at night",
        )
