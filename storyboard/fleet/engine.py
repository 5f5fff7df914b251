"""The durable engine: DBOS on a database named by URL, its two queues, and which
workers are alive.

`postgresql://…` shares the engine across machines; `sqlite:///path` keeps it on
one. DBOS keeps every workflow, its steps' results and the queues in that
database; what this module adds is the one thing DBOS leaves to its hosted
control plane: noticing that a worker died. Each worker holds a lock for as
long as it lives (a PostgreSQL session advisory lock, or a kernel file lock
beside a SQLite database), so a `kill -9` or a lost machine releases it at
once; every worker looks, once a second, for workflows left running by a
worker whose lock is free, and puts them back on their queue, where the next
free worker resumes them from their last finished step.

Nothing secret enters the database: workers read the provider's key from
their own environment, and the database URL's password is never shown.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from storyboard.errors import EnvironmentProblem, UsageError
from storyboard.fleet.jobs import GRAPH_QUEUE, PROVIDER_QUEUE, WORKFLOW_VERSION

try:
    import fcntl
except ImportError:  # not POSIX: SQLite workers cannot tell a dead peer from a live one
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from dbos import DBOSClient

APP_NAME = "storyboard"
_LOCK_CLASS = 0x5B0A  # the advisory lock space of storyboard's workers
WATCH_SECONDS = 1.0


def check_database_url(url: str) -> str:
    """`url` if the engine can use it: PostgreSQL (many machines) or SQLite (one)."""
    scheme = urlsplit(url).scheme
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return "postgresql://" + url.split("://", 1)[1]
    if scheme == "sqlite" and url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return url
    raise UsageError(
        f"--database: not a database URL the engine can use: {shown_url(url)!r}; "
        "give postgresql://user@host/db (many machines) or sqlite:///path (one machine)"
    )


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _require_dbos() -> None:
    try:
        import dbos  # noqa: F401
    except ImportError as exc:
        raise EnvironmentProblem(
            "--database needs the durable engine DBOS: pip install 'storyboard[fleet]'"
        ) from exc


def prepare(url: str) -> None:
    """Create the engine's tables if they are not there yet (DBOS's own migrations),
    once the server is known to answer (else one line naming it, not DBOS's log)."""
    _require_dbos()
    from dbos import run_dbos_database_migrations

    _reachable(url)
    logging.getLogger("dbos").setLevel(logging.CRITICAL)  # what goes wrong is said below
    with _unreachable(url):
        run_dbos_database_migrations(url)


def _reachable(url: str) -> None:
    """Raise EnvironmentProblem unless the database server answers. A PostgreSQL
    database that does not exist yet is fine: DBOS creates it."""
    if url.startswith("sqlite:///"):
        folder = Path(url.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise EnvironmentProblem(f"cannot use the database {url}: no folder {folder}")
        return
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        if "does not exist" in reason:
            return
        raise EnvironmentProblem(
            f"cannot use the database {shown_url(url)}: {_scrubbed(reason, url)}"
        ) from None


def open_client(url: str) -> DBOSClient:
    """A client of the engine at `url`: what a render needs (it runs no workflows)."""
    prepare(url)
    from dbos import DBOSClient

    with _unreachable(url):
        return DBOSClient(system_database_url=url, retry_connection_errors=False)


@contextlib.contextmanager
def _unreachable(url: str) -> Iterator[None]:
    """The engine's database errors as one line naming the database (no password)."""
    try:
        yield
    except (UsageError, EnvironmentProblem):
        raise
    except Exception as exc:  # SQLAlchemy's and the driver's errors, whatever they are
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EnvironmentProblem(
            f"cannot use the database {shown_url(url)}: {_scrubbed(reason, url)}"
        ) from None


def _scrubbed(text: str, url: str) -> str:
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


def configure_logging() -> None:
    """DBOS speaks at WARNING and above: a worker's own lines say what it does."""
    logging.getLogger("dbos").setLevel(logging.WARNING)


class Liveness:
    """Whether a worker is alive: it holds its lock for as long as its process lives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._held: Any = None
        self._engine: Any = None
        self._folder: Path | None = None
        if url.startswith("sqlite:///"):
            self._folder = Path(url.removeprefix("sqlite:///") + ".workers")
            self._folder.mkdir(parents=True, exist_ok=True)
        else:
            import sqlalchemy as sa

            self._engine = sa.create_engine(
                url.replace("postgresql://", "postgresql+psycopg://", 1),
                pool_size=1,
                max_overflow=1,
                pool_pre_ping=True,
            )

    def hold(self, executor_id: str) -> None:
        """Take `executor_id`'s lock for the rest of this process's life."""
        if self._folder is not None:
            handle = open(self._folder / f"{executor_id}.lock", "a+", encoding="utf-8")  # noqa: SIM115
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            self._held = handle
            return
        import sqlalchemy as sa

        connection = self._engine.connect()
        connection.execute(
            sa.text("SELECT pg_advisory_lock(:c, hashtext(:e))"),
            {"c": _LOCK_CLASS, "e": executor_id},
        )
        connection.commit()
        self._held = connection

    @contextlib.contextmanager
    def if_dead(self, executor_id: str) -> Iterator[bool]:
        """True inside the block if `executor_id` is dead: its lock is then held here
        until the block ends, so that one live worker at a time recovers its work."""
        if self._folder is not None:
            path = self._folder / f"{executor_id}.lock"
            if fcntl is None or not path.exists():
                yield False  # never seen alive here (another machine's, or no locks)
                return
            with open(path, "a+", encoding="utf-8") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    yield False
                    return
                yield True
            return
        import sqlalchemy as sa

        args = {"c": _LOCK_CLASS, "e": executor_id}
        with self._engine.connect() as connection:
            got = connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:c, hashtext(:e))"), args
            ).scalar()
            try:
                yield bool(got)
            finally:
                if got:
                    connection.execute(sa.text("SELECT pg_advisory_unlock(:c, hashtext(:e))"), args)
                connection.commit()

    def close(self) -> None:
        if self._held is not None:
            self._held.close()
        if self._engine is not None:
            self._engine.dispose()


def recover_dead_workers(liveness: Liveness, me: str) -> list[str]:
    """Put back on their queues the workflows that dead workers left running; the
    ids put back. Called inside a launched worker."""
    from dbos import DBOS

    left: dict[str, dict[str, list[str]]] = {}  # executor -> queue -> workflow ids
    for status in DBOS.list_workflows(
        status="PENDING",
        app_version=WORKFLOW_VERSION,
        queue_name=[GRAPH_QUEUE, PROVIDER_QUEUE],
        load_input=False,
        load_output=False,
    ):
        if status.executor_id and status.executor_id != me and status.queue_name:
            by_queue = left.setdefault(status.executor_id, {})
            by_queue.setdefault(status.queue_name, []).append(status.workflow_id)
    recovered: list[str] = []
    for executor, by_queue in left.items():
        with liveness.if_dead(executor) as dead:
            if not dead:
                continue
            for queue, ids in by_queue.items():
                DBOS.resume_workflows(ids, queue_name=queue)
                recovered.extend(ids)
    return recovered


class Watchman(threading.Thread):
    """A worker's thread that recovers dead workers' workflows once a second."""

    def __init__(self, liveness: Liveness, me: str, report: Any) -> None:
        super().__init__(name="storyboard-watchman", daemon=True)
        self.liveness, self.me, self.report = liveness, me, report
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(WATCH_SECONDS):
            try:
                recovered = recover_dead_workers(self.liveness, self.me)
            except Exception as exc:  # the database went away for a moment: look again
                self.report(f"could not look for dead workers: {str(exc).splitlines()[0]}")
                continue
            if recovered:
                self.report(f"resumed {len(recovered)} workflow(s) left by a dead worker")
