"""The cut: scenes that exist, trims inside the clip, transitions that fit.

FAIL (SB702): the clip lasts 5 s; a trim to 6 s is impossible.

    scenes:
      - {id: a, prompt: x, duration: 5}
    cut:
      - {scene: a, trim: [1, 6]}

PASS: `trim: [1, 5]`.
"""

from __future__ import annotations

from collections.abc import Iterator

from storyboard.language.model import CutItem
from storyboard.lint.rules import Context, Rule, problem
from storyboard.problems import Problem, Severity, did_you_mean
from storyboard.provider import api

HEAD = (
    "storyboard: 1\nscenes:\n  - {id: a, prompt: x, duration: 5}\n"
    "  - {id: b, prompt: y, duration: 4}\ncut:\n"
)

RULES = {
    r.code: r
    for r in (
        Rule(
            "SB701",
            "",
            "the cut names defined scenes",
            HEAD + "  - a\n  - c\n",
            (7, 5),
            HEAD + "  - a\n  - b\n",
        ),
        Rule(
            "SB702",
            "",
            "a trim lies inside its clip and keeps at least one frame",
            HEAD + "  - {scene: a, trim: [1, 6]}\n  - b\n",
            (6, 22),
            HEAD + "  - {scene: a, trim: [1, 5]}\n  - b\n",
        ),
        Rule(
            "SB703",
            "",
            "a transition is shorter than the clips it joins",
            HEAD + "  - a\n  - {scene: b, transition: {type: crossfade, duration: 4.5}}\n",
            (7, 5),
            HEAD + "  - a\n  - {scene: b, transition: {type: crossfade, duration: 1}}\n",
        ),
        Rule(
            "SB704",
            "",
            "every rendered scene is used by the cut or by another scene",
            HEAD + "  - a\n",
            (4, 10),
            HEAD + "  - a\n  - b\n",
            Severity.WARNING,
        ),
    )
}

MIN_CLIP = 1 / api.OUTPUT_FPS  # a trim keeps at least one frame (R14: clips are 24 fps)


def check(ctx: Context) -> Iterator[Problem]:
    story = ctx.story
    ids = [s.id for s in story.scenes]
    previous: tuple[CutItem, float] | None = None
    for entry in story.cut:
        if entry.scene not in ids:
            yield problem(
                RULES["SB701"],
                entry.pos,
                f"the cut names undefined scene {entry.scene!r}",
                hint=did_you_mean(entry.scene, ids),
            )
            previous = None
            continue
        total = story.clip_seconds(entry.scene)
        length = float(total) if total is not None else None
        if entry.trim is not None and length is not None:
            start, end = entry.trim
            if not (0 <= start < end <= length) or end - start < MIN_CLIP:
                yield problem(
                    RULES["SB702"],
                    ctx.doc.pos(_trim_path(ctx, entry)),
                    f"trim [{start:g}, {end:g}] does not fit scene {entry.scene!r}, "
                    f"whose clip lasts {length:g} s",
                    hint=f"use 0 <= start < end <= {length:g}",
                )
            else:
                length = end - start
        tr = entry.transition
        if previous is not None and length is not None and tr.type != "cut":
            prev_entry, prev_len = previous
            overlap = tr.duration
            if overlap >= min(length, prev_len):
                yield problem(
                    RULES["SB703"],
                    entry.pos,
                    f"a {tr.duration:g} s {tr.type} between {prev_entry.scene!r} "
                    f"({prev_len:g} s) and {entry.scene!r} ({length:g} s) is too long",
                    hint="a transition must be shorter than both clips",
                )
        previous = (entry, length) if length is not None else None
    if story.cut_explicit:
        used = {e.scene for e in story.cut}
        feeding = {dep for s in story.scenes for dep in s.depends_on}
        for scene in story.scenes:
            if scene.id not in used and scene.id not in feeding:
                yield problem(
                    RULES["SB704"],
                    scene.pos,
                    f"scene {scene.id!r} is neither in the cut nor used by another scene, "
                    "but would be rendered (and paid for)",
                    hint="add it to cut:, or remove it",
                )


def _trim_path(ctx: Context, entry: CutItem) -> tuple[str | int, ...]:
    for i, _ in enumerate(ctx.story.cut):
        path = ("cut", i, "trim")
        if ctx.doc.pos(("cut", i)) == entry.pos:
            return path
    return ("cut",)
