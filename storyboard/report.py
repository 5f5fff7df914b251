"""Human views of a plan: the `plan` table and the task graph as Mermaid/DOT."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from storyboard.compile.plan import Plan
from storyboard.language.takes import Take
from storyboard.run.cache import ClipCache


def plan_rows(plan: Plan, cache: ClipCache) -> list[dict[str, Any]]:
    """A row per task: its takes (how many the plan needs, which one the film uses,
    how many the cache has) and what the missing ones would cost."""
    rows = []
    for task in plan.tasks:
        missing = [n for n in task.take_numbers if not cache.has(task.cache_key, n)]
        rows.append(
            {
                "task": task.id,
                "scene": task.scene,
                "shots": len(task.shots),
                "seconds": task.seconds,
                "mode": task.payload.get("mode"),
                "depends_on": task.depends_on,
                "takes": len(task.take_numbers),
                "take": task.chosen.address,
                "cached_takes": len(task.take_numbers) - len(missing),
                "cached": not missing,
                "take_cost_usd": task.estimated_cost_usd,  # list price of one take
                "estimated_cost_usd": round(task.estimated_cost_usd * len(missing), 4),
            }
        )
    return rows


def plan_table(plan: Plan, rows: list[dict[str, Any]], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"{plan.title}: {len(rows)} task(s)")
    for name, justify in (
        ("task", "left"),
        ("scene", "left"),
        ("shots", "right"),
        ("seconds", "right"),
        ("mode", "left"),
        ("depends on", "left"),
        ("takes", "left"),
        ("cached", "left"),
        ("est. cost", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(
            row["task"],
            row["scene"],
            str(row["shots"]),
            f"{row['seconds']:g}",
            row["mode"],
            ", ".join(row["depends_on"]) or "-",
            _takes(row),
            _cached(row),
            f"${row['estimated_cost_usd']:.3f}",
        )
    to_pay = sum(r["estimated_cost_usd"] for r in rows)
    cached = sum(r["cached_takes"] for r in rows)
    takes = sum(r["takes"] for r in rows)
    seconds = sum(r["seconds"] * r["takes"] for r in rows)
    table.add_section()
    table.add_row(
        "total",
        "",
        str(sum(r["shots"] for r in rows)),
        f"{seconds:g}",
        "",
        "",
        str(takes),
        f"{cached}/{takes}",
        f"${to_pay:.3f}",
    )
    console.print(table)


def _takes(row: dict[str, Any]) -> str:
    """How many takes, and which one the film uses when there is a choice."""
    uses = Take.parse(row["take"]).number
    return str(row["takes"]) if row["takes"] == 1 and uses == 1 else f"{row['takes']} @{uses}"


def _cached(row: dict[str, Any]) -> str:
    if row["takes"] == 1:
        return "yes" if row["cached"] else "no"
    return f"{row['cached_takes']}/{row['takes']}"


def _label(task_id: str) -> str:
    return "t_" + "".join(c if c.isalnum() else "_" for c in task_id)


def graph_mermaid(plan: Plan) -> str:
    lines = ["flowchart LR"]
    for task in plan.tasks:
        lines.append(f'    {_label(task.id)}["{task.id}<br/>{task.seconds:g} s"]')
    for task in plan.tasks:
        for dep in task.depends_on:
            lines.append(f"    {_label(dep)} --> {_label(task.id)}")
    return "\n".join(lines)


def graph_dot(plan: Plan) -> str:
    lines = ["digraph storyboard {", "    rankdir=LR;", "    node [shape=box];"]
    for task in plan.tasks:
        lines.append(f'    "{task.id}" [label="{task.id}\\n{task.seconds:g} s"];')
    for task in plan.tasks:
        for dep in task.depends_on:
            lines.append(f'    "{dep}" -> "{task.id}";')
    lines.append("}")
    return "\n".join(lines)
