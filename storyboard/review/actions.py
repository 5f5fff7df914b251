"""Pick and reject: the two things a person does with takes, in one place.

`storyboard pick` / `reject` and the review page's buttons call these and
nothing else, so the file they write and the checks before it are the same
whichever way the choice is made. Both refuse a task the storyboard does not
have and a take that is not known (not planned, not on the shelf, not in the
journal, not in the selection) with a `UsageError` naming the known takes.

Picking a take also records it as `good`: a pick of a take that was rejected
would otherwise not be applied (the selection's rule skips rejected takes).
"""

from __future__ import annotations

from dataclasses import dataclass

from storyboard.compile.compiler import Compilation
from storyboard.compile.plan import PlanTask
from storyboard.errors import UsageError
from storyboard.language.selection import write_pick, write_verdict
from storyboard.language.takes import Take
from storyboard.pipeline import compile_storyboard
from storyboard.review.gather import Workspace, known_takes, recorded_takes
from storyboard.run.journal import existing_journal


@dataclass(frozen=True)
class Change:
    """What an action did, and what the next `render` and `stitch` will do about it."""

    take: Take
    said: str
    film_uses: Take
    rerender: tuple[str, ...]  # tasks whose request changed: the next render makes them
    made: bool = True  # the take the film now uses has a clip (else the next render makes it)

    def lines(self) -> list[str]:
        out = [self.said, f"the film now uses {self.film_uses}"]
        todo = [] if self.made else [f"makes {self.film_uses} (no clip of it yet)"]
        if self.rerender:
            todo.append(
                f"renders {', '.join(self.rerender)} "
                f"(built from {self.film_uses.task}'s chosen take)"
            )
        if todo:
            out.append(f"next `storyboard render`: {'; '.join(todo)}, then stitches")
        else:
            out.append("next `storyboard render` or `stitch`: re-cuts the film, sends nothing new")
        return out


def pick(workspace: Workspace, task_id: str, take: int, note: str | None = None) -> Change:
    """Make take `take` of `task_id` the one the film uses (and mark it good)."""
    before, task = _checked(workspace, task_id, take)
    path = workspace.selection_path
    write_verdict(path, task_id, take, task.cache_key, "good", note)
    write_pick(path, task_id, take, task.cache_key)
    return _change(workspace, before, Take(task_id, take), f"picked {Take(task_id, take)}")


def reject(workspace: Workspace, task_id: str, take: int, note: str | None = None) -> Change:
    """Mark take `take` of `task_id` rejected (with a note); rejecting the picked
    take removes the pick, and the film falls back to the first take not rejected."""
    before, task = _checked(workspace, task_id, take)
    write_verdict(workspace.selection_path, task_id, take, task.cache_key, "reject", note)
    said = f"rejected {Take(task_id, take)}" + (f" ({note})" if note else "")
    return _change(workspace, before, Take(task_id, take), said)


def parse_take(task: str, take: str | None) -> tuple[str, int]:
    """`TASK TAKE` or `TASK@K` (TAKE left out) as a task id and a take number."""
    if take is None:
        if "@" not in task:
            raise UsageError(f"which take of {task}? give TASK TAKE or TASK@K")
        try:
            parsed = Take.parse(task)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return parsed.task, parsed.number
    if not take.isdigit() or int(take) < 1:
        raise UsageError(f"take {take!r}: a take number is 1, 2, 3, ...")
    return task, int(take)


def _checked(workspace: Workspace, task_id: str, take: int) -> tuple[Compilation, PlanTask]:
    compiled = compile_storyboard(workspace.story_path)
    by_id = {t.id: t for t in compiled.tasks}
    task = by_id.get(task_id)
    if task is None:
        raise UsageError(
            f"{workspace.story_path}: no task {task_id!r}; tasks: {', '.join(by_id) or 'none'}"
        )
    workspace = workspace.for_plan(compiled.plan(workspace.build_dir))
    with existing_journal(workspace.build_dir / "journal.sqlite") as journal:
        records = recorded_takes(task, workspace, journal)
    known = known_takes(task, workspace, records, compiled.selection)
    if take not in known:
        listed = ", ".join(str(Take(task_id, n)) for n in sorted(known))
        raise UsageError(f"{task_id} has no take {take}; its known takes: {listed}")
    return compiled, task


def _change(workspace: Workspace, before: Compilation, take: Take, said: str) -> Change:
    after = compile_storyboard(workspace.story_path)
    old = {t.id: t.cache_key for t in before.tasks}
    rerender = tuple(t.id for t in after.tasks if old.get(t.id) != t.cache_key)
    task = next(t for t in after.tasks if t.id == take.task)
    made = workspace.for_plan(after.plan(workspace.build_dir)).cache.has(task.cache_key, task.take)
    return Change(take, said, task.chosen, rerender, made)
