"""The selection file beside the storyboard, `<stem>.takes.yaml`.

Its own family: the examples are selection files (`fail`, `ok`) linted beside
the storyboard `STORY`, with `{key}` standing for the task's cache key now.
SB801 and SB802 come from reading the file (storyboard.language.selection);
the others need the compiled storyboard, to know each task's takes and key.

FAIL (SB804): `a` has one take; take 5 was never made.

    version: 1
    tasks:
      a:
        pick: {take: 5, key: {key}}

PASS: `pick: {take: 1, key: {key}}`.

FAIL (SB805, a warning): the pick was made for another version of `a`, whose
prompt has changed since; it is not applied (the film uses take 1).

    version: 1
    tasks:
      a:
        pick: {take: 1, key: ffff...ffff}
"""

from __future__ import annotations

from collections.abc import Iterator

from storyboard.compile.compiler import Compilation, compile_specs
from storyboard.errors import StoryboardError
from storyboard.language.selection import Selection
from storyboard.language.takes import Take
from storyboard.lint.rules import Context, Rule, problem
from storyboard.problems import Problem, Severity, did_you_mean
from storyboard.provider.pricing import load_prices

STORY = "storyboard: 1\nscenes:\n  - {id: a, prompt: x, duration: 5}\n"
_HEAD = "version: 1\ntasks:\n  a:\n"
_OK = _HEAD + "    pick: {take: 1, key: {key}}\n"

RULES = {
    r.code: r
    for r in (
        Rule(
            "SB801",
            "",
            "the selection file is readable YAML (no duplicate keys, no aliases)",
            "version: 1\nversion: 1\n",
            (2, 1),
            _OK,
        ),
        Rule(
            "SB802",
            "",
            "the selection file is as takes.schema.json says",
            _HEAD + "    pick: {take: 1, key: abc}\n",
            (4, 26),
            _OK,
        ),
        Rule(
            "SB803",
            "",
            "the selection names tasks of the storyboard (with a did-you-mean)",
            "version: 1\ntasks:\n  b:\n    pick: {take: 1, key: {key}}\n",
            (3, 3),
            _OK,
        ),
        Rule(
            "SB804",
            "",
            "a pick names a take that exists (up to `takes:`, or listed under `takes:`)",
            _HEAD + "    pick: {take: 5, key: {key}}\n",
            (4, 5),
            _OK,
        ),
        Rule(
            "SB805",
            "",
            "picks and verdicts made for an earlier version of a task are stale: not applied",
            _HEAD + "    pick: {take: 1, key: " + "f" * 64 + "}\n",
            (4, 5),
            _OK,
            Severity.WARNING,
        ),
    )
}


def compile_for_lint(ctx: Context, selection: Selection) -> Compilation | None:
    """The storyboard compiled with its selection, or None when compiling fails: the
    caller that needs the plan (`pipeline.compile_storyboard`) compiles again and
    reports the failure as it always has; lint itself never raises for it."""
    try:
        return compile_specs(ctx.story, ctx.specs, load_prices(), selection)
    except (StoryboardError, OSError):
        return None


def check(selection: Selection, compilation: Compilation) -> Iterator[Problem]:
    """Judge each entry of a readable selection file against the compiled tasks."""
    tasks = {t.id: t for t in compilation.tasks}
    for task_id, entry in selection.tasks.items():
        task = tasks.get(task_id)
        if task is None:
            hint = did_you_mean(task_id, tasks) or "remove its entry, or rename it"
            message = f"task {task_id!r} is not in the storyboard"
            yield problem(RULES["SB803"], entry.pos, message, hint=hint)
            continue
        key = task.cache_key
        stale = f"stale: made for an earlier version of {task_id}; not applied"
        pick = entry.pick
        if pick is not None and pick.key != key:
            hint = f"pick a take of {task_id} again (`storyboard takes` lists them)"
            yield problem(RULES["SB805"], pick.pos, stale, hint=hint)
        elif pick is not None and pick.take > task.takes and pick.take not in entry.marks_for(key):
            made = f"{task.takes} take" + ("" if task.takes == 1 else "s")
            message = f"{Take(task_id, pick.take)} does not exist: {task_id} has {made}"
            hint = f"raise `takes:`, or `storyboard retake` {task_id} to make more"
            yield problem(RULES["SB804"], pick.pos, message, hint=hint)
        for mark in entry.stale_marks(key):
            if mark.verdict is not None or mark.note is not None:
                yield problem(RULES["SB805"], mark.pos, stale)
