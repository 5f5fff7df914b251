"""`--max-cost` across machines: one ledger per render in the engine's database.

Every worker that runs a take of the render checks the same ledger before it
creates a task: what is billed plus what is in flight (at list price until
billed), in one transaction under a lock of the render's (a PostgreSQL
transaction advisory lock; SQLite's write lock), so that two workers
checking at once cannot both slip under the cap. A take counted once stays
counted once: a workflow resumed after its worker died finds its own row.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

from storyboard.run.budget import BudgetRefused, refusal

_LOCK_CLASS = 0x5B0B  # the advisory lock space of the renders' ledgers
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS storyboard_ledger ("
    " budget TEXT NOT NULL, take TEXT NOT NULL, estimate REAL NOT NULL, billed REAL,"
    " PRIMARY KEY (budget, take))"
)


class SharedBudget:
    """The ledger of render `budget` (an id of the render's) with the cap `cap`."""

    def __init__(self, url: str, budget: str, cap: float) -> None:
        self.url, self.budget, self.cap = url, budget, cap
        self._sqlite = url.startswith("sqlite:///")
        with self._transaction() as run:
            run(SCHEMA)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One locked transaction; yields `run(sql, *args) -> rows` (`?` placeholders)."""
        if self._sqlite:
            db = sqlite3.connect(
                self.url.removeprefix("sqlite:///"), timeout=60, isolation_level=None
            )
            try:
                db.execute("BEGIN IMMEDIATE")
                yield lambda sql, *args: db.execute(sql, args).fetchall()
                db.execute("COMMIT")
            finally:
                db.close()
            return
        import psycopg

        with psycopg.connect(self.url) as pg, pg.transaction():
            pg.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, self.budget))

            def run(sql: str, *args: Any) -> list[Any]:
                cursor = pg.execute(sql.replace("?", "%s"), args)
                return cursor.fetchall() if cursor.description else []

            yield run

    def _counted(self, run: Any) -> tuple[float, float]:
        rows = run(
            "SELECT COALESCE(SUM(billed), 0), COALESCE(SUM(CASE WHEN billed IS NULL"
            " THEN estimate ELSE 0 END), 0) FROM storyboard_ledger WHERE budget = ?",
            self.budget,
        )
        return float(rows[0][0]), float(rows[0][1])

    def _add(self, run: Any, label: str, estimate: float) -> None:
        run(
            "INSERT INTO storyboard_ledger (budget, take, estimate) VALUES (?, ?, ?)"
            " ON CONFLICT (budget, take) DO NOTHING",
            self.budget, label, estimate,
        )  # fmt: skip

    def hold(self, label: str, estimate: float) -> None:
        with self._transaction() as run:
            self._add(run, label, estimate)

    def reserve(self, label: str, estimate: float) -> None:
        with self._transaction() as run:
            mine = run(
                "SELECT 1 FROM storyboard_ledger WHERE budget = ? AND take = ?",
                self.budget, label,
            )  # fmt: skip
            billed, flying = self._counted(run)
            if mine:  # counted already (this take, resumed, or re-attached)
                flying -= estimate
            if billed + flying + estimate > self.cap + 1e-9:
                raise BudgetRefused(refusal(billed, flying, estimate, self.cap))
            self._add(run, label, estimate)

    def bill(self, label: str, cost: float) -> None:
        with self._transaction() as run:
            run(
                "INSERT INTO storyboard_ledger (budget, take, estimate, billed) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (budget, take) DO UPDATE SET billed = excluded.billed",
                self.budget, label, cost, cost,
            )  # fmt: skip

    def release(self, label: str) -> None:
        with self._transaction() as run:
            run(
                "DELETE FROM storyboard_ledger WHERE budget = ? AND take = ? AND billed IS NULL",
                self.budget, label,
            )  # fmt: skip

    def spent(self) -> float:
        """What the render's takes were billed, in all."""
        with self._transaction() as run:
            return self._counted(run)[0]
