"""A plan diff printed: plain text for a terminal, Markdown for a pull request's
comment, and JSON for a script (its keys are listed in `as_json`)."""

from __future__ import annotations

from typing import Any

from storyboard.compare.plans import STATUSES, PlanDiff, TaskDiff

JSON_VERSION = 1
PRICES = "the provider's list prices"
_BASE_SAYS = {
    "absent": "not in {label}: every task is added",
    "broken": "the storyboard at {label} does not compile: every task counts as added",
}


def _cached(task: TaskDiff) -> str:
    if task.status == "removed":
        return "-"
    if task.takes == 1:
        return "cached" if task.cached else "to send"
    return f"{task.cached_takes}/{task.takes} cached"


def _why(task: TaskDiff) -> str:
    return "; ".join(c.label for c in task.changes)


def _money(usd: float) -> str:
    return f"${usd:.3f}"


def summary_lines(diff: PlanDiff, label: str) -> list[str]:
    """What the change costs, what it reuses, and the film it makes."""
    send = diff.to_send
    lines = [
        f"to send: {len(send)} task(s), {diff.takes_to_send} take(s), "
        f"{diff.seconds_to_send:g} s: {_money(diff.cost_usd)} at {PRICES}",
        f"reused: {diff.reused_clips} clip(s) on the {diff.shelf} shelf, "
        f"{_money(diff.reused_made_usd)} when made ({_money(diff.reused_list_usd)} at list prices)",
    ]
    was = diff.base_film_seconds
    film = f"film: {diff.film_seconds:.2f} s"
    if was is not None:
        film += " (unchanged)" if abs(was - diff.film_seconds) < 1e-9 else f" (was {was:.2f} s)"
    lines.append(film)
    if diff.base_state in _BASE_SAYS:
        lines.append("base: " + _BASE_SAYS[diff.base_state].format(label=label))
    return lines


def as_text(diff: PlanDiff, story: str, label: str) -> str:
    """One line per task (status, id, what changed, cached or to send, its cost),
    then the summary."""
    counts = ", ".join(f"{len(diff.having(s))} {s}" for s in STATUSES)
    lines = [f"{story} against {label}: {counts}"]
    width = max((len(t.task) for t in diff.tasks), default=4)
    for task in diff.tasks:
        cost = _money(task.cost_usd) if task.cost_usd else ""
        why = _why(task)
        row = f"  {task.status:<9} {task.task:<{width}}  {_cached(task):<13} {cost:>8}"
        lines.append(row.rstrip() + (f"  {why}" if why else ""))
    return "\n".join([*lines, *summary_lines(diff, label)])


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def as_markdown(diff: PlanDiff, story: str, label: str) -> str:
    """A pull request's comment: a title line with the cost, a table of the tasks,
    and the details (each changed prompt before and after, the summary)."""
    send = diff.to_send
    title = (
        f"### storyboard diff: {_money(diff.cost_usd)} to render "
        f"({len(send)} of {len(diff.tasks) - len(diff.having('removed'))} tasks), "
        f"film {diff.film_seconds:.2f} s"
    )
    lines = [
        title,
        "",
        f"`{_cell(story)}` against `{_cell(label)}`, at {PRICES}; "
        f"cached means on the `{diff.shelf}` shelf.",
        "",
        "| task | change | what changed | cached | cost |",
        "| --- | --- | --- | --- | ---: |",
    ]
    for task in diff.tasks:
        cost = _money(task.cost_usd) if task.status != "removed" else "-"
        lines.append(
            f"| `{_cell(task.task)}` | {task.status} | {_cell(_why(task)) or '-'} "
            f"| {_cached(task)} | {cost} |"
        )
    details = []
    for task in diff.having("changed"):
        for change in task.changes:
            if change.field.startswith("prompt") and change.old and change.new:
                details += [
                    f"- **{task.task}**, {change.label}:",
                    f"  - before: {_cell(change.old)}",
                    f"  - after: {_cell(change.new)}",
                ]
    details += [f"- {line}" for line in summary_lines(diff, label)]
    lines += ["", "<details><summary>Details</summary>", "", *details, "", "</details>"]
    return "\n".join(lines)


def as_json(diff: PlanDiff, story: str, base: dict[str, Any], backend: str) -> dict[str, Any]:
    """The diff as one stable object (`version` 1):

    - `storyboard`: the working copy's path; `base`: `{"ref", "file", "state"}`
      (one of ref/file is null; state is compiled, absent or broken);
    - `backend` and `shelf`: whose cache shelf counts as cached; `prices`: "list";
    - `tasks`: one per task, working copy's order then the removed ones:
      `task`, `status` (added, removed, changed, unchanged), `changes` (each
      `field`, `label`, `old`, `new`), `cached`, `takes`, `cached_takes`,
      `seconds`, `cost_usd` (the takes to send, at list prices);
    - `counts`: how many tasks of each status;
    - `to_send`: `tasks`, `takes`, `seconds`, `cost_usd` (what a render would pay);
    - `reused`: `clips`, `cost_when_made_usd`, `list_usd`;
    - `film`: `seconds` and `base_seconds` (null without a base plan).
    """
    return {
        "version": JSON_VERSION,
        "storyboard": story,
        "base": base,
        "backend": backend,
        "shelf": diff.shelf,
        "prices": "list",
        "tasks": [
            {
                "task": t.task,
                "status": t.status,
                "changes": [
                    {"field": c.field, "label": c.label, "old": c.old, "new": c.new}
                    for c in t.changes
                ],
                "cached": t.cached,
                "takes": t.takes,
                "cached_takes": t.cached_takes,
                "seconds": t.seconds,
                "cost_usd": t.cost_usd,
            }
            for t in diff.tasks
        ],
        "counts": {s: len(diff.having(s)) for s in STATUSES},
        "to_send": {
            "tasks": len(diff.to_send),
            "takes": diff.takes_to_send,
            "seconds": diff.seconds_to_send,
            "cost_usd": diff.cost_usd,
        },
        "reused": {
            "clips": diff.reused_clips,
            "cost_when_made_usd": diff.reused_made_usd,
            "list_usd": diff.reused_list_usd,
        },
        "film": {"seconds": diff.film_seconds, "base_seconds": diff.base_film_seconds},
    }
