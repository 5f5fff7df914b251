"""What the mock knows: its configuration, its tasks, its seeded streams.

The one type the API (server.py), the rendering of clips (clips.py) and the
faults middleware (faults.py) and the callbacks (callbacks.py) all share, so
that none of them imports another for it. `ENDPOINTS`, `FAULT_KINDS` and the
`CALLBACK_` names are the words a `MockConfig` and the `/_mock/stats` counts
are written in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import itertools
import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from storyboard.errors import UsageError
from storyboard.provider.pricing import PriceTable, load_prices
from storyboard.provider.profile import ProviderProfile

FAULT_KINDS = ("drop", "hang", "slow", "http_429", "http_5xx", "malformed", "truncate")
ENDPOINTS = ("create", "status", "query", "download")
CALLBACK_COUNTS = (
    "callback_sent",
    "callback_accepted",
    "callback_rejected",
    "callback_failed",
    "callback_refused",
)
CALLBACK_FAULT_KINDS = ("lost", "duplicate", "late", "reorder")
PROFILE = ProviderProfile()  # the mock serves the defaults, always
TASK_ID_SCHEMES = ("unique", "sequential")


@dataclass(frozen=True)
class MockConfig:
    """How the mock behaves. Rates are probabilities per request (or per task for E1/E2)."""

    api_key: str | None = field(default=None, repr=False)  # None: any non-empty key
    seed: int = 0
    queue_seconds: float = 0.2  # time a task stays `queued`
    process_seconds: float = 0.5  # at least this long `processing` (longer if rendering is)
    render_workers: int = 2
    e1_rate: float = 0.0  # task fails with E1 (resource insufficient)
    e2_rate: float = 0.0  # task fails with E2 (task response error)
    e3_rate: float = 0.0  # create refused with E3 (task creation error)
    e3_match: tuple[str, ...] = ()  # create refused with E3 when a prompt contains one of these
    http_429_rate: float = 0.0
    retry_after: float = 1.0
    http_5xx_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    hang_rate: float = 0.0
    hang_seconds: float = 300.0
    drop_rate: float = 0.0  # connection closed in the middle of the answer
    malformed_rate: float = 0.0  # an answer that is not JSON (a proxy's error page)
    truncate_rate: float = 0.0  # downloads that break off halfway
    fault_endpoints: tuple[str, ...] = ENDPOINTS  # where HTTP-level faults may strike
    fault_limit: int | None = None  # stop injecting HTTP-level faults after this many
    max_concurrent: int | None = None  # unfinished tasks allowed; more → E1 at create
    url_expiry_seconds: float | None = None  # output URLs signed to expire after this
    # Callbacks (R22, to loopback only): each notice is lost, duplicated, late (by
    # callback_late_seconds) or held back behind the next one (reordered) at these rates.
    callback_lost_rate: float = 0.0
    callback_duplicate_rate: float = 0.0
    callback_late_rate: float = 0.0
    callback_late_seconds: float = 2.0
    callback_reorder_rate: float = 0.0
    callback_timeout: float = 5.0  # seconds the mock waits for a callback's answer
    bill_factor: float = 1.0  # usage.cost = list-price estimate x this (bills above estimates)
    work_dir: Path | None = None  # where clips go (a temporary folder by default)
    canned_clip: Path | None = None  # answer every task with this clip instead of rendering
    # "unique": task ids never met in another mock process (as the real provider's);
    # "sequential": mock-000001, mock-000002... from 1 in every process, as a gateway
    # restarted with an in-memory counter hands out ids it handed out before.
    task_ids: str = "unique"

    @classmethod
    def from_options(cls, **options: Any) -> MockConfig:
        """A config from loose options (CLI flags, JSON), type-checked with clear errors."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, value in options.items():
            if name not in known:
                raise UsageError(f"mock option {name!r} unknown; known: {sorted(known)}")
            if value is None:
                continue
            values[name] = _coerce(name, value)
        config = cls(**values)
        bad = [n for n in known if n.endswith("_rate") and not 0 <= getattr(config, n) <= 1]
        if bad:
            raise UsageError(f"mock rates must be between 0 and 1: {bad}")
        if config.task_ids not in TASK_ID_SCHEMES:
            raise UsageError(
                f"mock task_ids must be one of {TASK_ID_SCHEMES}, not {config.task_ids!r}"
            )
        unknown = set(config.fault_endpoints) - set(ENDPOINTS)
        if unknown:
            raise UsageError(f"mock fault_endpoints: unknown {sorted(unknown)}; use {ENDPOINTS}")
        return config

    @classmethod
    def from_json(cls, source: str | Path | Mapping[str, Any]) -> MockConfig:
        """A config from a JSON object, JSON text, or a JSON file path."""
        if isinstance(source, Mapping):
            return cls.from_options(**source)
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(text).read_text(encoding="utf-8")
        data = json.loads(text)
        if not isinstance(data, dict):
            raise UsageError("mock config JSON must be an object")
        return cls.from_options(**data)


def _coerce(name: str, value: Any) -> Any:
    if name in ("work_dir", "canned_clip"):
        return Path(value)
    if name in ("fault_endpoints", "e3_match"):
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(str(i).strip() for i in items if str(i).strip())
    if name in ("seed", "render_workers", "fault_limit", "max_concurrent"):
        if isinstance(value, bool) or not str(value).lstrip("-").isdigit():
            raise UsageError(f"mock option {name} must be a whole number, not {value!r}")
        return int(value)
    if name in ("api_key", "task_ids"):
        return str(value)
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"mock option {name} must be a number, not {value!r}") from exc


@dataclass
class MockTask:
    """One task the mock was asked to make, and how it stands (read by `status_of`)."""

    task_id: str
    external_task_id: str
    payload: dict[str, Any]
    created: float
    fate: str | None = None  # an injected failure code (E1/E2)
    done: bool = False
    rendered: float | None = None  # when its clip was ready (monotonic clock)
    error: tuple[str, str] | None = None
    clip: Path | None = None
    duration: float = 0.0
    cost: float = 0.0


@dataclass(frozen=True)
class CallbackRecord:
    """One callback POST the mock made: for which task and status, when the status
    changed and when it was sent (monotonic clock), and the HTTP answer (None: none)."""

    external_task_id: str
    task_id: str
    status: str
    changed_at: float
    sent_at: float
    answer: int | None


@dataclass
class MockState:
    """Everything the mock knows; read by tests through `MockHandle`."""

    config: MockConfig
    work_dir: Path
    counts: Counter[str] = field(default_factory=Counter)
    creates_by_external_id: Counter[str] = field(default_factory=Counter)
    tasks: dict[str, MockTask] = field(default_factory=dict)
    by_external_id: dict[str, str] = field(default_factory=dict)
    faults_injected: int = 0
    url_secret: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    process_tag: str = field(default_factory=lambda: secrets.token_hex(3))  # for unique ids
    renders: asyncio.Semaphore | None = None
    background: set[asyncio.Task[None]] = field(default_factory=set)
    streams: dict[str, random.Random] = field(default_factory=dict)
    prices: PriceTable = field(default_factory=load_prices)  # read once, not per task
    max_concurrent_seen: int = 0  # the most unfinished tasks there ever were at once
    # When a client first asked about each task and heard it was finished (monotonic
    # clock): how soon after its end the client noticed (by polling or a callback).
    told_finished: dict[str, float] = field(default_factory=dict)
    callback_log: list[CallbackRecord] = field(default_factory=list)
    callback_http: httpx.AsyncClient | None = None  # made in the server's loop, on first use

    def draw(self, stream: str) -> float:
        """The next number of one seeded stream (fates, e3, or an endpoint's faults)."""
        if stream not in self.streams:
            self.streams[stream] = random.Random(f"{self.config.seed}:{stream}")
        return self.streams[stream].random()

    def fate(self, key: str) -> random.Random:
        """A seeded stream of its own for one thing (a task's notice), whatever else ran."""
        return random.Random(f"{self.config.seed}:{key}")

    def callback_client(self) -> httpx.AsyncClient:
        """The HTTP client the mock's callbacks are sent with: no redirects followed, and a
        new connection for each (a kept-alive one can be closed by the receiver just as
        the next notice goes out, seconds later: a loss the config did not ask for)."""
        if self.callback_http is None:
            self.callback_http = httpx.AsyncClient(
                follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0)
            )
        return self.callback_http

    def saw_tasks(self) -> None:
        """Note how many tasks are unfinished now (after a create: the count only grows
        then, so the high-water mark is always seen)."""
        self.max_concurrent_seen = max(self.max_concurrent_seen, self.unfinished())

    def new_task_id(self) -> str:
        """The next task id: unique to this process, or counted from 1 as after a restart."""
        number = next(self.ids)
        if self.config.task_ids == "sequential":
            return f"mock-{number:06d}"
        return f"mock-{self.process_tag}-{number:06d}"

    def status_of(self, task: MockTask) -> str:
        age = time.monotonic() - task.created
        if age < self.config.queue_seconds:
            return "queued"
        if age < self.config.queue_seconds + self.config.process_seconds or not task.done:
            return "processing"
        return "failed" if task.error else "completed"

    def unfinished(self) -> int:
        return sum(1 for t in self.tasks.values() if self.status_of(t) in ("queued", "processing"))

    def stats(self) -> dict[str, Any]:
        kinds = [
            *ENDPOINTS,
            "total",
            *(f"fault_{k}" for k in (*FAULT_KINDS, "e1", "e2", "e3")),
            *CALLBACK_COUNTS,
            *(f"fault_callback_{k}" for k in CALLBACK_FAULT_KINDS),
        ]
        counts: dict[str, Any] = {kind: self.counts.get(kind, 0) for kind in kinds}
        counts.update(self.counts)
        counts["create_by_external_id"] = dict(self.creates_by_external_id)
        counts["tasks"] = len(self.tasks)
        counts["max_concurrent_seen"] = self.max_concurrent_seen
        return counts

    def sign(self, name: str, expires: int) -> str:
        mac = hmac.new(self.url_secret, f"{name}:{expires}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]
