"""`storyboard worker`: run the engine's take workflows on this machine until stopped.

A worker takes the provider's settings from its own environment (the key in
`KIRIN_API_KEY`, the base URL, the provider profile and its account limit),
so the key never enters the database; its clips go to the shared cache it
is given. Its concurrency is DBOS's per-worker limit of the provider queue,
whose global limit is the provider account's (the profile's
`account_concurrency`): however many workers run, the account is never asked
for more.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storyboard.errors import UsageError
from storyboard.fleet import engine
from storyboard.fleet.jobs import GRAPH_QUEUE, PROVIDER_QUEUE, WORKFLOW_VERSION
from storyboard.provider.profile import ProviderProfile
from storyboard.run.backends.base import Backend
from storyboard.run.cache import ClipCache
from storyboard.run.callbacks import CallbackKey
from storyboard.run.executor import EventSink

# How often a worker asks each queue for work. An account slot that frees is
# refilled by the next poll of the provider queue, so that one is asked often; a
# render enqueues all its takes at once, so the graph queue is asked less (each
# poll of a queue costs a worker a few per cent of a core, waiting or not).
PROVIDER_POLL_SECONDS = 0.1
GRAPH_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class WorkerSettings:
    database: str
    cache: ClipCache
    concurrency: int
    profile: ProviderProfile
    backend: Callable[[], Backend]  # a kirin backend from this machine's environment
    events: EventSink
    say: Callable[[str], None]
    work_dir: Path | None = None
    callbacks: tuple[CallbackKey, str] | None = None  # R22: the key, the receiver's URL


def run_worker(settings: WorkerSettings, stop: threading.Event | None = None) -> None:
    """Run workflows until `stop` is set or the process is interrupted."""
    url = settings.database
    limit = settings.profile.account_concurrency
    if settings.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    # One backend for every workflow of this worker (they run on one event loop): one
    # connection pool, and its polling learns from every task. Made now, so that no
    # key or no base URL is said at start, not in the first workflow.
    backend = settings.backend()
    engine.prepare(url)
    me = f"worker-{uuid.uuid4().hex[:12]}"
    liveness = engine.Liveness(url)
    liveness.hold(me)  # before the first workflow: a peer must never think us dead
    from dbos import DBOS

    from storyboard.fleet import workflows  # registers the workflows with DBOS

    work_dir = settings.work_dir or Path(tempfile.mkdtemp(prefix="storyboard-worker-"))
    workflows.configure(
        workflows.WorkerContext(
            cache=settings.cache,
            backend=lambda: backend,
            work_dir=work_dir,
            events=lambda label: settings.events,
            executor_id=me,
            database=url,
            profile=settings.profile,
            callbacks=settings.callbacks,
        )
    )
    engine.configure_logging()
    DBOS(
        config={
            "name": engine.APP_NAME,
            "system_database_url": url,
            "executor_id": me,
            "application_version": WORKFLOW_VERSION,
            "log_level": "ERROR",
        }
    )
    watchman = engine.Watchman(liveness, me, settings.say)
    try:
        DBOS.launch()
        DBOS.register_queue(
            PROVIDER_QUEUE,
            global_concurrency=limit,
            worker_concurrency=min(settings.concurrency, limit),
            polling_interval_sec=PROVIDER_POLL_SECONDS,
            on_conflict="always_update",
        )
        DBOS.register_queue(
            GRAPH_QUEUE, polling_interval_sec=GRAPH_POLL_SECONDS, on_conflict="always_update"
        )
        watchman.start()
        settings.say(
            f"worker {me} on {engine.shown_url(url)}: account limit {limit}, "
            f"{min(settings.concurrency, limit)} at a time here, cache {settings.cache.location}"
            + (f", callbacks to {settings.callbacks[1]}" if settings.callbacks else "")
        )
        (stop or threading.Event()).wait()
    finally:
        watchman.stop.set()
        DBOS.destroy(workflow_completion_timeout_sec=0)
        liveness.close()
