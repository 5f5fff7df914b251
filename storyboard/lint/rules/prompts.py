"""Prompt templates: syntax, undefined names, the sandbox.

FAIL (SB402): `mood` is not a variable, an asset, `scene` or `shot`.

    vars: {style: noir}
    scenes:
      - {id: a, prompt: "{{ mood }} rain, {{ style }}", duration: 5}

PASS: `{{ style }} rain`.
"""

from __future__ import annotations

from collections.abc import Iterator

from storyboard.lint.rules import Context, Rule, locate, problem
from storyboard.problems import Pos, Problem, did_you_mean

HEAD = "storyboard: 1\nvars: {style: noir}\nscenes:\n"

RULES = {
    r.code: r
    for r in (
        Rule(
            "SB401",
            "",
            "prompt templates are valid Jinja2",
            HEAD + "  - {id: a, prompt: 'rain {{ style ', duration: 5}\n",
            (4, 21),
            HEAD + "  - {id: a, prompt: 'rain {{ style }}', duration: 5}\n",
        ),
        Rule(
            "SB402",
            "",
            "templates use only defined names",
            HEAD + "  - {id: a, prompt: '{{ mood }} rain', duration: 5}\n",
            (4, 25),
            HEAD + "  - {id: a, prompt: '{{ style }} rain', duration: 5}\n",
        ),
        Rule(
            "SB403",
            "",
            "templates stay inside the sandbox",
            HEAD + "  - {id: a, prompt: '{{ style.__class__.__mro__ }}', duration: 5}\n",
            (4, 21),
            HEAD + "  - {id: a, prompt: '{{ style | upper }}', duration: 5}\n",
        ),
        Rule(
            "SB404",
            "",
            "templates render without errors",
            HEAD + "  - {id: a, prompt: '{{ 1 / 0 }}', duration: 5}\n",
            (4, 21),
            HEAD + "  - {id: a, prompt: '{{ 1 / 2 }}', duration: 5}\n",
        ),
    )
}

CODES = {"syntax": "SB401", "undefined": "SB402", "sandbox": "SB403", "error": "SB404"}
HINTS = {
    "undefined": "define it under vars:, or as an asset; prompts also see scene and shot",
    "syntax": "check the {{ }} and {% %} pairs",
    "sandbox": "prompts may use variables, filters and simple expressions only",
}


def check(ctx: Context) -> Iterator[Problem]:
    for plan in ctx.plans.values():
        for item in plan.failures:
            failure = item.failure
            start = item.shot.prompt_pos
            pos = locate(ctx, start, failure.needle) if failure.needle else start
            if failure.kind == "syntax" and failure.line > 1:
                pos = Pos(start.file, start.line + failure.line, start.column)
            hint = HINTS.get(failure.kind, "")
            if failure.kind == "undefined" and failure.needle:
                close = _close(ctx, failure.needle)
                hint = close or hint
            yield problem(RULES[CODES[failure.kind]], pos, failure.message, hint)


def _close(ctx: Context, name: str) -> str:
    return did_you_mean(name, [*ctx.story.vars, *ctx.story.assets, "scene", "shot"])
