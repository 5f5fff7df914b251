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
`GET /_mock/stats` counts every request received, by kind, and the most
unfinished tasks there were at once (`max_concurrent_seen`).

A create with a `callback_url` on loopback is called back on every status
change, with its own seeded faults (`callbacks`).

It never fetches from the network: a video URL that is neither one of its
own clip URLs nor a local file fails the task with E3.

This module holds the routes and the serving; what the mock knows is in
`state`, how it draws clips in `clips`, the HTTP faults in `faults`, its
callbacks in `callbacks`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import json
import logging
import math
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from storyboard.mock.callbacks import may_call, notify_changes
from storyboard.mock.clips import render_task
from storyboard.mock.faults import FaultInjector, QuietInjected
from storyboard.mock.state import PROFILE, MockConfig, MockState, MockTask
from storyboard.provider import api
from storyboard.provider.request import validate_request

# What callers take from here: the config, and the mock served or run in a thread.
__all__ = ["MockConfig", "MockHandle", "create_app", "running_mock", "serve"]


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
    task = MockTask(
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
    state.saw_tasks()
    if external:
        state.by_external_id[external] = task.task_id
    base = str(request.base_url)
    job = asyncio.create_task(render_task(state, task, base))
    _keep(state, job)
    callback = payload.get(PROFILE.callback_field)
    if isinstance(callback, str) and may_call(callback):
        document = functools.partial(_document, state, task, base)
        _keep(state, asyncio.create_task(notify_changes(state, task, callback, document, job)))
    elif callback is not None:
        state.counts["callback_refused"] += 1  # never contacted: not on this machine
    return JSONResponse({"task_id": task.task_id, "status": "queued"})


def _keep(state: MockState, job: asyncio.Task[None]) -> None:
    """Hold a background job until it ends (the lifespan cancels what is left)."""
    state.background.add(job)
    job.add_done_callback(state.background.discard)


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
    document = _document(state, task, str(request.base_url))
    if document["status"] in ("completed", "failed"):
        state.told_finished.setdefault(task.task_id, time.monotonic())
    return JSONResponse(document)


async def query_task(request: Request) -> Response:
    state: MockState = request.app.state.mock
    if not _authorised(request, state):
        return _unauthorised()
    external = request.query_params.get(PROFILE.query_param, "")
    task_id = state.by_external_id.get(external)
    if not external or task_id is None:
        return _error(404, "404", f"no task with external_task_id {external!r}")
    return JSONResponse(_document(state, state.tasks[task_id], str(request.base_url)))


def _document(state: MockState, task: MockTask, base_url: str) -> dict[str, Any]:
    """The S1-S5 answer for one task as it stands now (also the body of its callbacks)."""
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
                "content": [{"type": "video", "url": _clip_url(state, task, base_url)}],
                "duration": round(task.duration, 3),
                "jobId": f"job-{task.task_id}",
            }
        ]
        doc["usage"] = {"cost": f"{task.cost:.4f}", "discount": 0}
    return doc


def _clip_url(state: MockState, task: MockTask, base: str) -> str:
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
            if state.callback_http is not None:
                await state.callback_http.aclose()
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
