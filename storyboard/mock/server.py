"""`storyboard mock-server`: the kirin API on loopback, with faults on demand.

Speaks the default provider profile (DESIGN §4) over real HTTP so the
`kirin` client, the executor and users' CI dry-runs can be exercised without
spending money: bearer check (T1), payload validation with the same
`validate_request` the compiler uses (invalid → E3), the task lifecycle
queued → processing → completed/failed with configurable latency (T2, S1),
clips rendered by the preview renderer in worker threads and served under
`/files/`, `usage.cost` from the price table (S4), lookup by
`external_task_id` (T3, unique: R23).

Faults come from seeded generators, one per stream (task fates, E3, and each
endpoint's HTTP faults), so the n-th create, status, query or download meets
the same fault in every run, however requests interleave: E1/E2 task
failures and E3 creation errors at given rates, HTTP 429 with Retry-After,
HTTP 5xx, slow and hanging answers, answers that are not JSON, dropped
connections, truncated downloads, a concurrency limit answered with E1, expiring output URLs,
and (`task_ids: "sequential"`) the task ids of a gateway restarted with an
in-memory counter: every fresh process hands out `mock-000001` again.
`GET /_mock/stats` counts every request received, by kind.

It never fetches from the network: a video URL that is neither one of its
own clip URLs nor a local file fails the task with E3.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import itertools
import json
import logging
import math
import os
import random
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from storyboard.animatic.renderer import render_preview
from storyboard.errors import MediaError, UsageError
from storyboard.media import MediaInfo, local_media, probe
from storyboard.mock.faults import ENDPOINTS, FAULT_KINDS, PROFILE, FaultInjector, QuietInjected
from storyboard.provider import api
from storyboard.provider.pricing import estimate_cost, load_prices
from storyboard.provider.request import validate_request

log = logging.getLogger(__name__)
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


# --- state -------------------------------------------------------------------------


@dataclass
class _Task:
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


@dataclass
class MockState:
    """Everything the mock knows; read by tests through `MockHandle`."""

    config: MockConfig
    work_dir: Path
    counts: Counter[str] = field(default_factory=Counter)
    creates_by_external_id: Counter[str] = field(default_factory=Counter)
    tasks: dict[str, _Task] = field(default_factory=dict)
    by_external_id: dict[str, str] = field(default_factory=dict)
    faults_injected: int = 0
    url_secret: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    process_tag: str = field(default_factory=lambda: secrets.token_hex(3))  # for unique ids
    renders: asyncio.Semaphore | None = None
    background: set[asyncio.Task[None]] = field(default_factory=set)
    streams: dict[str, random.Random] = field(default_factory=dict)

    def draw(self, stream: str) -> float:
        """The next number of one seeded stream (fates, e3, or an endpoint's faults)."""
        if stream not in self.streams:
            self.streams[stream] = random.Random(f"{self.config.seed}:{stream}")
        return self.streams[stream].random()

    def new_task_id(self) -> str:
        """The next task id: unique to this process, or counted from 1 as after a restart."""
        number = next(self.ids)
        if self.config.task_ids == "sequential":
            return f"mock-{number:06d}"
        return f"mock-{self.process_tag}-{number:06d}"

    def status_of(self, task: _Task) -> str:
        age = time.monotonic() - task.created
        if age < self.config.queue_seconds:
            return "queued"
        if age < self.config.queue_seconds + self.config.process_seconds or not task.done:
            return "processing"
        return "failed" if task.error else "completed"

    def unfinished(self) -> int:
        return sum(1 for t in self.tasks.values() if self.status_of(t) in ("queued", "processing"))

    def stats(self) -> dict[str, Any]:
        kinds = [*ENDPOINTS, "total", *(f"fault_{k}" for k in (*FAULT_KINDS, "e1", "e2", "e3"))]
        counts: dict[str, Any] = {kind: self.counts.get(kind, 0) for kind in kinds}
        counts.update(self.counts)
        counts["create_by_external_id"] = dict(self.creates_by_external_id)
        counts["tasks"] = len(self.tasks)
        return counts

    def sign(self, name: str, expires: int) -> str:
        mac = hmac.new(self.url_secret, f"{name}:{expires}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]


# --- the API -------------------------------------------------------------------------


def _error(status: int, code: str, message: str) -> JSONResponse:
    body = {"task_id": None, "status": "failed", "error": {"code": code, "error_message": message}}
    return JSONResponse(body, status)


def _authorised(request: Request, state: MockState) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return False
    expected = state.config.api_key
    return expected is None or hmac.compare_digest(key.strip().encode(), expected.encode())


def _unauthorised() -> JSONResponse:
    return _error(401, "401", "missing or invalid API key (Authorization: Bearer <key>)")


async def create_task(request: Request) -> Response:
    state: MockState = request.app.state.mock
    if not _authorised(request, state):
        return _unauthorised()
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, api.E3_TASK_CREATION_ERROR, "the request body is not JSON")
    external = payload.get("external_task_id") if isinstance(payload, dict) else None
    if isinstance(external, str):
        state.creates_by_external_id[external] += 1
    problems = validate_request(payload)
    if problems:
        state.counts["rejected_invalid"] += 1
        return _error(400, api.E3_TASK_CREATION_ERROR, "; ".join(problems))
    config = state.config
    if config.e3_match and any(m in _prompts(payload) for m in config.e3_match):
        state.counts["fault_e3"] += 1
        return _error(400, api.E3_TASK_CREATION_ERROR, "task creation error (prompt refused)")
    if config.e3_rate and state.draw("e3") < config.e3_rate:
        state.counts["fault_e3"] += 1
        return _error(400, api.E3_TASK_CREATION_ERROR, "task creation error (injected)")
    if isinstance(external, str) and external in state.by_external_id:
        return _error(
            400, api.E3_TASK_CREATION_ERROR, f"external_task_id {external!r} already exists"
        )
    if config.max_concurrent is not None and state.unfinished() >= config.max_concurrent:
        state.counts["rejected_concurrency"] += 1
        return _error(429, api.E1_RESOURCE_INSUFFICIENT, "task resource insufficient")
    task = _Task(
        task_id=state.new_task_id(),
        external_task_id=external or "",
        payload=payload,
        created=time.monotonic(),
    )
    for code, rate in (
        (api.E1_RESOURCE_INSUFFICIENT, config.e1_rate),
        (api.E2_TASK_RESPONSE_ERROR, config.e2_rate),
    ):
        if rate and state.draw("fate") < rate:
            task.fate = code
            state.counts[f"fault_{'e1' if code == api.E1_RESOURCE_INSUFFICIENT else 'e2'}"] += 1
            break
    state.tasks[task.task_id] = task
    if external:
        state.by_external_id[external] = task.task_id
    job = asyncio.create_task(_run(state, task, str(request.base_url)))
    state.background.add(job)
    job.add_done_callback(state.background.discard)
    return JSONResponse({"task_id": task.task_id, "status": "queued"})


def _prompts(payload: Mapping[str, Any]) -> str:
    """Every prompt of a payload, joined: what `e3_match` looks into."""
    shots = payload.get("multi_prompt") or []
    return "\n".join([str(payload.get("prompt", "")), *(str(s.get("prompt", "")) for s in shots)])


async def task_status(request: Request) -> Response:
    state: MockState = request.app.state.mock
    if not _authorised(request, state):
        return _unauthorised()
    task = state.tasks.get(request.path_params["task_id"])
    if task is None:
        return _error(404, "404", "no such task")
    return JSONResponse(_document(state, task, request))


async def query_task(request: Request) -> Response:
    state: MockState = request.app.state.mock
    if not _authorised(request, state):
        return _unauthorised()
    external = request.query_params.get(PROFILE.query_param, "")
    task_id = state.by_external_id.get(external)
    if not external or task_id is None:
        return _error(404, "404", f"no task with external_task_id {external!r}")
    return JSONResponse(_document(state, state.tasks[task_id], request))


def _document(state: MockState, task: _Task, request: Request) -> dict[str, Any]:
    """The S1-S5 answer for one task as it stands now."""
    status = state.status_of(task)
    doc: dict[str, Any] = {
        "task_id": task.task_id,
        "status": status,
        "error": None,
        "output": None,
        "usage": None,
        # What the task was made from, for the client to check it got the task it asked
        # about (provider profile: external_id_field, mode_field).
        "metadata": {
            "external_task_id": task.external_task_id,
            "model": api.MODEL,
            "mode": task.payload.get("mode"),
        },
    }
    if status == "failed" and task.error:
        doc["error"] = {"code": task.error[0], "error_message": task.error[1]}
    elif status == "completed":
        doc["output"] = [
            {
                "content": [
                    {"type": "video", "url": _clip_url(state, task, str(request.base_url))}
                ],
                "duration": round(task.duration, 3),
                "jobId": f"job-{task.task_id}",
            }
        ]
        doc["usage"] = {"cost": f"{task.cost:.4f}", "discount": 0}
    return doc


def _clip_url(state: MockState, task: _Task, base: str) -> str:
    name = f"{task.task_id}.mp4"
    url = f"{base.rstrip('/')}/files/{name}"
    if state.config.url_expiry_seconds is None:
        return url
    # Rounded up: a URL is good for at least the configured time (rounding down could
    # hand out a URL that is already stale, to a client that did nothing wrong).
    expires = math.ceil(time.time() + state.config.url_expiry_seconds)
    return f"{url}?exp={expires}&sig={state.sign(name, expires)}"


async def download_clip(request: Request) -> Response:
    state: MockState = request.app.state.mock
    name = request.path_params["name"]
    task = state.tasks.get(name.removesuffix(".mp4"))
    if task is None or task.clip is None or state.status_of(task) != "completed":
        return _error(404, "404", "no such file")
    if state.config.url_expiry_seconds is not None:
        exp, sig = request.query_params.get("exp", ""), request.query_params.get("sig", "")
        valid = exp.isdigit() and hmac.compare_digest(sig, state.sign(name, int(exp)))
        if not valid or int(exp) < time.time():
            state.counts["rejected_expired"] += 1
            return _error(403, "403", "output URL expired or invalid")
    return FileResponse(task.clip, media_type="video/mp4")


async def mock_stats(request: Request) -> Response:
    return JSONResponse(request.app.state.mock.stats())


# --- rendering -------------------------------------------------------------------------


class _Unresolvable(Exception):
    """A media URL the mock will not fetch (the internet) or cannot read."""


async def _run(state: MockState, task: _Task, base_url: str) -> None:
    """Render one task's clip in a worker thread, or settle its injected fate."""
    try:
        if task.fate is not None:
            message = {
                api.E1_RESOURCE_INSUFFICIENT: "task resource insufficient",
                api.E2_TASK_RESPONSE_ERROR: "task response error",
            }[task.fate]
            task.error = (task.fate, f"{message} (injected)")
            return
        assert state.renders is not None
        out = state.work_dir / "clips" / f"{task.task_id}.mp4"
        out.parent.mkdir(parents=True, exist_ok=True)

        def resolve(url: str) -> Path:
            return _resolve_media(url, state, base_url)

        try:
            if state.config.canned_clip is not None:  # load tests: no rendering at all
                info = await asyncio.to_thread(_can, state.config.canned_clip, out)
            else:
                async with state.renders:
                    info = await asyncio.to_thread(
                        render_preview,
                        task.payload,
                        out,
                        label=task.external_task_id or task.task_id,
                        resolve_media=resolve,
                    )
        except (_Unresolvable, MediaError) as exc:
            task.error = (api.E3_TASK_CREATION_ERROR, f"cannot use the task's media: {exc}")
            return
        task.clip, task.duration = out, info.duration
        base_edit = any(
            v.get("refer_type", "base") == "base" for v in task.payload.get("video_list", [])
        )
        task.cost = state.config.bill_factor * estimate_cost(
            task.payload, source_seconds=info.duration if base_edit else None, prices=load_prices()
        )
    except Exception as exc:  # the mock must answer, whatever the renderer did
        log.exception("mock render of %s failed", task.task_id)
        task.error = (api.E2_TASK_RESPONSE_ERROR, f"render failed: {type(exc).__name__}")
    finally:
        task.done, task.rendered = True, time.monotonic()


def _can(clip: Path, out: Path) -> MediaInfo:
    """The canned clip as this task's output (a hard link when the disk allows)."""
    try:
        out.unlink(missing_ok=True)
        os.link(clip, out)
    except OSError:
        shutil.copyfile(clip, out)
    return probe(out)


def _resolve_media(url: str, state: MockState, base_url: str) -> Path:
    """A payload's image/video URL as a local file; never fetches from the network."""
    own = base_url.rstrip("/") + "/files/"
    parts = urlsplit(url)
    if url.startswith(own) or (
        parts.scheme in ("http", "https")
        and parts.path.startswith("/files/")
        and parts.netloc == urlsplit(base_url).netloc
    ):
        task = state.tasks.get(Path(parts.path).name.removesuffix(".mp4"))
        if task is None or task.clip is None:
            raise _Unresolvable(f"{parts.path}: no such clip on this mock")
        return task.clip
    try:
        path = local_media(url, state.work_dir / "inline")
    except MediaError as exc:
        raise _Unresolvable(str(exc)) from exc
    if path is None:
        raise _Unresolvable(
            f"{parts.scheme}://{parts.netloc}{parts.path}: the mock never fetches from the network"
        )
    return path


# --- serving -------------------------------------------------------------------------


def create_app(config: MockConfig | None = None) -> Starlette:
    """The mock as an ASGI app (state in `app.state.mock`)."""
    config = config or MockConfig()
    owns_dir = config.work_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix="storyboard-mock-")) if owns_dir else config.work_dir
    assert work_dir is not None
    state = MockState(config=config, work_dir=work_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        state.renders = asyncio.Semaphore(max(1, config.render_workers))
        try:
            yield
        finally:
            for job in list(state.background):
                job.cancel()
            if owns_dir:
                shutil.rmtree(work_dir, ignore_errors=True)

    routes = [
        Route(PROFILE.create_path, create_task, methods=["POST"]),
        Route(PROFILE.query_path, query_task, methods=["GET"]),
        Route(PROFILE.status_path, task_status, methods=["GET"]),
        Route("/files/{name}", download_clip, methods=["GET"]),
        Route("/_mock/stats", mock_stats, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(FaultInjector, state=state)]
    )
    app.state.mock = state
    logging.getLogger("uvicorn.error").addFilter(QuietInjected())
    return app


def _server(app: Starlette, host: str, port: int, log_level: str) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            timeout_graceful_shutdown=1,
            lifespan="on",
        )
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    config: MockConfig | None = None,
    *,
    log_level: str = "info",
) -> None:
    """Serve the mock in the foreground until interrupted (the CLI's `mock-server`)."""
    _server(create_app(config), host, port, log_level).run()


@dataclass
class MockHandle:
    """A mock running in a background thread: its base URL and its counters."""

    base_url: str
    state: MockState

    def stats(self) -> dict[str, Any]:
        """The same counts as `GET /_mock/stats`."""
        return self.state.stats()

    @property
    def work_dir(self) -> Path:
        return self.state.work_dir


@contextlib.contextmanager
def running_mock(
    config: MockConfig | None = None, *, log_level: str = "warning"
) -> Iterator[MockHandle]:
    """Run the mock on a free port of 127.0.0.1 for the duration of a `with` block."""
    app = create_app(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _server(app, "127.0.0.1", port, log_level)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"mock-server-{port}"
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the mock server did not start")
        time.sleep(0.01)
    try:
        yield MockHandle(f"http://127.0.0.1:{port}", app.state.mock)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
