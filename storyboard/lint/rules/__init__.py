"""Semantic lint rules, one family per module.

Each family module lists its rules (`RULES`: code, API rule id, severity,
summary, and a failing and a passing example that the tests lint) and has
one `check(ctx)` generator that yields problems. No rule prints or exits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from storyboard.compile.specs import ScenePlan, TaskSpec, plan_storyboard
from storyboard.language.load import Document
from storyboard.language.model import Storyboard
from storyboard.problems import Pos, Problem, Severity


@dataclass(frozen=True)
class Rule:
    """A lint rule's identity and its documentation-by-example."""

    code: str
    rule: str  # API.md rule id, or "" for the language's own rules
    summary: str
    fail: str  # a storyboard that triggers the rule...
    fail_at: tuple[int, int]  # ...at this line and column
    ok: str  # the same storyboard, fixed
    severity: Severity = Severity.ERROR


@dataclass
class Context:
    doc: Document
    story: Storyboard
    check_urls: bool = False
    allow_private_urls: bool = False  # --allow-private-urls: intranet assets
    options: dict[str, object] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)

    @cached_property
    def planned(self) -> tuple[dict[str, ScenePlan], list[TaskSpec]]:
        return plan_storyboard(self.story)

    @property
    def plans(self) -> dict[str, ScenePlan]:
        return self.planned[0]

    @property
    def specs(self) -> list[TaskSpec]:
        return self.planned[1]


Check = Callable[[Context], Iterator[Problem]]


def families() -> list[tuple[dict[str, Rule], Check]]:
    from storyboard.lint.rules import (
        cut,
        files,
        graph,
        prompts,
        referencing,
        structure,
        task_limits,
    )

    mods = (structure, referencing, prompts, task_limits, graph, files, cut)
    return [(m.RULES, m.check) for m in mods]


_SCENE = "scenes:\n  - {id: a, prompt: x, duration: 5}\n"
_BOMB = "".join(
    f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else "x"] * 10) + "]\n" for i in range(9)
)

# Codes raised while loading and validating against the schema.
DOCUMENT_RULES = {
    r.code: r
    for r in (
        Rule(
            "SB001",
            "",
            "the file is valid YAML",
            "storyboard: 1\nscenes: [\n  {id: a\n",
            (3, 3),
            "storyboard: 1\n" + _SCENE,
        ),
        Rule(
            "SB002",
            "",
            "a key appears once per mapping",
            "storyboard: 1\nstoryboard: 1\n" + _SCENE,
            (2, 1),
            "storyboard: 1\n" + _SCENE,
        ),
        Rule(
            "SB003",
            "",
            "a storyboard is a mapping",
            "- storyboard\n- 1\n",
            (1, 1),
            "storyboard: 1\n" + _SCENE,
        ),
        Rule(
            "SB004",
            "",
            "a storyboard is UTF-8 text of reasonable size",
            "storyboard: 1\x00\n",
            (1, 1),
            "storyboard: 1\n" + _SCENE,
        ),
        Rule(
            "SB005",
            "",
            "aliases may not expand the document past a budget (billion laughs)",
            "storyboard: 1\n" + _BOMB + _SCENE,
            (2, 31),
            "storyboard: 1\n" + _SCENE,
        ),
        Rule(
            "SB006",
            "",
            "included files exist and define only assets and vars",
            "storyboard: 1\ninclude: [nothere.yaml]\n" + _SCENE,
            (2, 11),
            "storyboard: 1\n" + _SCENE,
        ),
        Rule(
            "SB100",
            "",
            "values have the type, range and form the schema gives",
            "storyboard: 1\nscenes:\n  - {id: a, prompt: x, duration: five}\n",
            (3, 34),
            "storyboard: 1\n" + _SCENE,
        ),
        Rule(
            "SB101",
            "",
            "only known keys (with a did-you-mean for misspellings)",
            "storyboard: 1\nscenes:\n  - {id: a, prompt: x, dration: 5}\n",
            (3, 24),
            "storyboard: 1\n" + _SCENE,
        ),
    )
}


def all_rules() -> dict[str, Rule]:
    out: dict[str, Rule] = dict(DOCUMENT_RULES)
    for rules, _ in families():
        out.update(rules)
    return out


def problem(rule: Rule, pos: Pos, message: str, hint: str = "") -> Problem:
    """A problem for `rule` at `pos`."""
    return Problem.at(
        pos,
        rule.code,
        message,
        rule=rule.rule,
        hint=hint,
        severity=rule.severity,
    )


def locate(ctx: Context, pos: Pos, needle: str | None, *, max_lines: int = 200) -> Pos:
    """The position of `needle` at or after `pos` in its file (else `pos`).

    Points at a token inside a prompt, whose scalar may be quoted or a
    block, without re-parsing it.
    """
    if not needle:
        return pos
    lines = ctx.lines.get(pos.file)
    if lines is None:
        try:
            with open(pos.file, encoding="utf-8-sig") as fh:
                lines = fh.read().splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []
        ctx.lines[pos.file] = lines
    for offset, text in enumerate(lines[pos.line - 1 : pos.line - 1 + max_lines]):
        start = pos.column - 1 if offset == 0 else 0
        col = text.find(needle, start)
        if col >= 0:
            return Pos(pos.file, pos.line + offset, col + 1)
    return pos
