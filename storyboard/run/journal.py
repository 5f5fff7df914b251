"""The run journal: an SQLite database (WAL) in the build directory.

Every task's state, remote ids, attempts, timestamps and billed cost are
written before and after every remote call, each write its own committed
transaction. Bills are rows of their own, one per provider task, written
once when the provider reports the cost, with the run that saw it: a
re-download or a resumed poll never bills again, and `cost_usd` of a task
is what its clip cost when it was made, whatever served it since.

After `kill -9` the next run reads it back: a task that was submitted is
re-attached by its remote id (or found by its external id), never created
again; a finished clip is reused.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.errors import JournalError
from storyboard.language.takes import Take

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id          TEXT PRIMARY KEY,
    cache_key        TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    external_task_id TEXT,
    remote           TEXT,
    outcome          TEXT,
    error            TEXT,
    cost_usd         REAL,
    cache_hit        INTEGER NOT NULL DEFAULT 0,
    seconds          REAL,
    started_at       REAL,
    updated_at       REAL NOT NULL,
    finished_at      REAL,
    clip_sha256      TEXT,
    request_key      TEXT
);
CREATE TABLE IF NOT EXISTS bills (
    source         TEXT NOT NULL,
    remote_task_id TEXT NOT NULL,
    task_id        TEXT NOT NULL,
    cost_usd       REAL NOT NULL,
    run_id         TEXT NOT NULL,
    at             REAL NOT NULL,
    PRIMARY KEY (source, remote_task_id)
);
CREATE TABLE IF NOT EXISTS events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      REAL NOT NULL,
    task_id TEXT NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT
);
"""

# States: pending -> submitting -> submitted -> completed -> done
#                               \-> failed | skipped
FINISHED = ("done", "failed", "skipped")


def record_key(source: str, cache_key: str) -> str:
    """What a task's record is keyed on: where its clip comes from (the backend's
    cache source) and its payload's cache key. Another backend, or an edit,
    starts a fresh record."""
    return f"{source}:{cache_key}"


@dataclass(frozen=True)
class TaskRecord:
    task_id: str
    cache_key: str
    state: str
    attempt: int
    external_task_id: str | None
    remote: dict[str, Any] | None
    outcome: dict[str, Any] | None
    error: str | None
    cost_usd: float | None
    cache_hit: bool
    seconds: float | None
    started_at: float | None
    finished_at: float | None
    clip_sha256: str | None = None  # the build's clip, as it was when the task was done
    request_key: str | None = None  # the plan's request_key when it was done

    @property
    def source(self) -> str:
        """The cache source of the backend the record's clip comes from."""
        return self.cache_key.rpartition(":")[0]

    @property
    def payload_key(self) -> str:
        """The cache key of the payload the record is about (without the shelf's
        variant: a preview card drawn with other notes is still that request's)."""
        return self.cache_key.rpartition(":")[2].partition("~")[0]


_COLUMNS = (
    "task_id, cache_key, state, attempt, external_task_id, remote, outcome, error,"
    " cost_usd, cache_hit, seconds, started_at, finished_at, clip_sha256, request_key"
)


def _record(row: tuple[Any, ...]) -> TaskRecord:
    return TaskRecord(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        json.loads(row[5]) if row[5] else None,
        json.loads(row[6]) if row[6] else None,
        row[7],
        row[8],
        bool(row[9]),
        row[10],
        row[11],
        row[12],
        row[13],
        row[14],
    )


class Journal:
    def __init__(self, path: Path | None) -> None:
        """The journal at `path`; None: one in memory, for a run whose durable record
        is kept elsewhere (a worker's take, whose steps the engine records)."""
        self.path = path
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            where = ":memory:" if path is None else path
            self._db = sqlite3.connect(where, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(tasks)")}
            if "clip_sha256" not in columns:  # a journal from before clips were hashed
                self._db.execute("ALTER TABLE tasks ADD COLUMN clip_sha256 TEXT")
            if "request_key" not in columns:  # a journal from before takes
                self._db.execute("ALTER TABLE tasks ADD COLUMN request_key TEXT")
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the run journal {path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise JournalError(f"run journal {self.path or '(in memory)'}: {exc}") from exc

    def get(self, task_id: str) -> TaskRecord | None:
        """The record of one take (`task_id` is its label: `TASK`, `TASK@2`)."""
        row = self._exec(f"SELECT {_COLUMNS} FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return None if row is None else _record(row)

    def takes_of(self, task_id: str, identity: str) -> dict[int, TaskRecord]:
        """Every take of `task_id` recorded for this identity (`record_key`), by number."""
        rows = self._exec(
            f"SELECT {_COLUMNS} FROM tasks WHERE cache_key = ?"
            " AND (task_id = ? OR substr(task_id, 1, ?) = ?)",
            (identity, task_id, len(task_id) + 1, task_id + "@"),
        ).fetchall()
        found: dict[int, TaskRecord] = {}
        for row in rows:
            try:
                take = Take.parse(row[0])
            except ValueError:
                continue
            if take.task == task_id:
                found[take.number] = _record(row)
        return dict(sorted(found.items()))

    def begin(self, task_id: str, cache_key: str) -> TaskRecord:
        """The task's record, fresh when it is new or its payload changed since."""
        record = self.get(task_id)
        if record is not None and record.cache_key == cache_key:
            return record
        now = time.time()
        self._exec(
            "INSERT OR REPLACE INTO tasks (task_id, cache_key, state, attempt, updated_at)"
            " VALUES (?, ?, 'pending', 0, ?)",
            (task_id, cache_key, now),
        )
        self.event(task_id, "begin", {"cache_key": cache_key})
        record = self.get(task_id)
        assert record is not None
        return record

    def update(self, task_id: str, **fields: Any) -> None:
        """Set columns of one task (dicts are stored as JSON) and log the change."""
        now = time.time()
        values = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in fields.items()}
        values["updated_at"] = now
        if fields.get("state") in FINISHED:
            values["finished_at"] = now
        cols = [f"{k} = ?" for k in values]
        if fields.get("state") == "submitting":  # the first submission starts the clock
            cols.append("started_at = COALESCE(started_at, ?)")
            values["started_at"] = now
        sql = f"UPDATE tasks SET {', '.join(cols)} WHERE task_id = ?"
        self._exec(sql, (*values.values(), task_id))
        detail = {k: v for k, v in fields.items() if k not in ("outcome", "remote")}
        self.event(task_id, str(fields.get("state", "update")), detail)

    def event(self, task_id: str, kind: str, detail: dict[str, Any] | None = None) -> None:
        self._exec(
            "INSERT INTO events (at, task_id, kind, detail) VALUES (?, ?, ?, ?)",
            (time.time(), task_id, kind, json.dumps(detail or {}, default=str)),
        )

    def attempts(self, task_id: str, kind: str) -> int:
        row = self._exec(
            "SELECT COUNT(*) FROM events WHERE task_id = ? AND kind = ?", (task_id, kind)
        ).fetchone()
        return int(row[0])

    def sent_here(self, task_id: str, external_task_id: str) -> bool:
        """Whether this build's runs sent the create for `external_task_id` (the
        journal writes `submitting` before the call): a task found by its external
        id that we never sent was made, and paid for, elsewhere."""
        row = self._exec(
            "SELECT 1 FROM events WHERE task_id = ? AND kind = 'submitting'"
            " AND json_extract(detail, '$.external_task_id') = ? LIMIT 1",
            (task_id, external_task_id),
        ).fetchone()
        return row is not None

    def record_bill(
        self, task_id: str, source: str, remote_task_id: str, cost_usd: float, run_id: str
    ) -> bool:
        """Record what the provider billed for one of its tasks, once: True the first
        time, False when that task's bill is already recorded (a re-download, a resumed
        run polling a finished task again)."""
        cursor = self._exec(
            "INSERT OR IGNORE INTO bills (source, remote_task_id, task_id, cost_usd, run_id, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (source, remote_task_id, task_id, cost_usd, run_id, time.time()),
        )
        return cursor.rowcount == 1

    def billed_in_run(self, run_id: str) -> float:
        row = self._exec(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM bills WHERE run_id = ?", (run_id,)
        ).fetchone()
        return float(row[0])


@contextmanager
def existing_journal(path: Path) -> Iterator[Journal | None]:
    """The journal at `path` if a run wrote one (None if not: nothing is created),
    closed when the block ends. For readers of a build (`stitch`, `takes`, review)."""
    journal = Journal(path) if path.is_file() else None
    try:
        yield journal
    finally:
        if journal is not None:
            journal.close()
