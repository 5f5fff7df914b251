"""Human views of a plan: the `plan` table and the task graph as Mermaid/DOT.

The table says what it is made of: whose cache shelf its `cached` column looked
at, and whose prices its `cost` column is in. The two need not belong to one
backend (the default preview shelf holds free animatics; the prices are the
provider's), and a plan that mixed them silently read as "the preview costs
$2.86". And it never cuts an id: a user copies ids from it into `--select`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from storyboard.compile.plan import Plan
from storyboard.language.takes import Take
from storyboard.run.cache import ClipCache


@dataclass(frozen=True)
class Shelf:
    """What `plan` consulted: the backend whose shelf of the clip cache says what is
    cached (`source`, e.g. `preview-r3`, `kirin-api.example.com`), whether that
    backend bills (the preview does not), and where the prices came from."""

    backend: str
    source: str
    bills: bool
    prices: str = "kirin list prices"

    def caption(self, to_pay: float, list_total: float) -> str:
        """Which shelf, which prices, and the two totals never taken for each other."""
        if self.bills:
            where = f"the {self.backend} shelf of {self.source}"
            cost = f"{self.prices} of the takes not on that shelf, what this render would bill"
        else:
            where = f"the {self.backend} shelf (free local animatics)"
            cost = (
                f"{self.prices} of every take; `--backend kirin` bills only the takes "
                "its own shelf lacks (`plan --backend kirin` shows them)"
            )
        return (
            f"cached: on {where}. cost: {cost}.\n"
            f"to render on {self.backend}: ${to_pay:.3f}; "
            f"list price of every take: ${list_total:.3f}"
        )


def plan_rows(plan: Plan, cache: ClipCache, shelf: Shelf | None = None) -> list[dict[str, Any]]:
    """A row per task: its takes (how many the plan needs, which one the film uses,
    how many the cache has) and what the missing ones would cost.

    `estimated_cost_usd` is the list price of the takes missing from `cache`'s
    shelf (whatever the backend); `list_cost_usd` that of every take; with a
    `shelf`, `bill_usd` is what its backend would bill (0 on the preview), and
    `backend`, `shelf` and `price_source` say what the row was reckoned from."""
    rows = []
    for task in plan.tasks:
        missing = [n for n in task.take_numbers if not cache.has(task.cache_key, n)]
        to_pay = round(task.estimated_cost_usd * len(missing), 4)
        row: dict[str, Any] = {
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
            "estimated_cost_usd": to_pay,
            "list_cost_usd": round(task.estimated_cost_usd * len(task.take_numbers), 4),
        }
        if shelf is not None:
            row["backend"] = shelf.backend
            row["shelf"] = shelf.source
            row["price_source"] = shelf.prices
            row["bill_usd"] = to_pay if shelf.bills else 0.0
        rows.append(row)
    return rows


@dataclass(frozen=True)
class _Column:
    header: str
    justify: str
    cells: list[str]  # the tasks' cells, then the total row's
    drop: int = 0  # dropped first when the terminal is narrow (lowest first); 0: never
    folds: bool = False  # may wrap, and fold an id over lines (each is whole elsewhere)

    @property
    def width(self) -> int:
        """The narrowest this column can be with nothing cut."""
        if self.folds:
            return max(cell_len(word) for word in self.header.split())
        return max(cell_len(text) for text in [self.header, *self.cells])


def plan_table(
    plan: Plan,
    rows: list[dict[str, Any]],
    shelf: Shelf | None = None,
    console: Console | None = None,
) -> None:
    """Print the table. Ids are never cut: on a narrow terminal the dependencies
    fold over lines first (their ids are whole in the task column), then the
    columns a user can do without (mode, shots, takes, seconds, dependencies)
    go, and a table still too wide is printed whole for the terminal to wrap."""
    console = console or Console()
    shelf = shelf or Shelf("preview", "preview", bills=False)
    cost = "estimated_cost_usd" if shelf.bills else "list_cost_usd"
    to_pay = sum(r["estimated_cost_usd"] for r in rows) if shelf.bills else 0.0
    list_total = sum(r["list_cost_usd"] for r in rows)
    takes = sum(r["takes"] for r in rows)
    cached = sum(r["cached_takes"] for r in rows)

    def column(header: str, justify: str, cells: list[str], total: str, **how: Any) -> _Column:
        return _Column(header, justify, [*cells, total], **how)

    columns = [
        column("task", "left", [r["task"] for r in rows], "total"),
        column("scene", "left", [r["scene"] for r in rows], ""),
        column("shots", "right", [str(r["shots"]) for r in rows],
               str(sum(r["shots"] for r in rows)), drop=2),
        column("seconds", "right", [f"{r['seconds']:g}" for r in rows],
               f"{sum(r['seconds'] * r['takes'] for r in rows):g}", drop=4),
        column("mode", "left", [str(r["mode"]) for r in rows], "", drop=1),
        column("depends on", "left", [", ".join(r["depends_on"]) or "-" for r in rows], "",
               drop=5, folds=True),
        column("takes", "left", [_takes(r) for r in rows], str(takes), drop=3),
        column("cached", "left", [_cached(r) for r in rows], f"{cached}/{takes}"),
        column("cost", "right", [f"${r[cost]:.3f}" for r in rows],
               f"${sum(r[cost] for r in rows):.3f}"),
    ]  # fmt: skip
    dropped: list[str] = []
    while _width(columns) > console.width and any(c.drop for c in columns):
        narrowest = min((c for c in columns if c.drop), key=lambda c: c.drop)
        columns.remove(narrowest)
        dropped.append(narrowest.header)
    caption = shelf.caption(to_pay, list_total)
    if dropped:
        caption += f"\n(not shown, for want of width: {', '.join(dropped)}; `plan --json` has all)"
    table = Table(
        title=f"{plan.title}: {len(rows)} task(s)", caption=caption, caption_justify="left"
    )
    for col in columns:
        how = {"overflow": "fold"} if col.folds else {"no_wrap": True}
        table.add_column(col.header, justify=col.justify, **how)  # type: ignore[arg-type]
    for i, cells in enumerate(zip(*(c.cells for c in columns), strict=True)):
        if i == len(rows):
            table.add_section()
        table.add_row(*cells)
    width = console.width
    try:
        console.width = max(
            width, _width(columns)
        )  # too wide still: whole, for the terminal to wrap
        console.print(table, crop=False)
    finally:
        console.width = width


def _width(columns: list[_Column]) -> int:
    """The table's width: each column's, plus a space either side and a rule between."""
    return sum(c.width + 3 for c in columns) + 1


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
