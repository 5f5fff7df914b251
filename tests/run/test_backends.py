"""The backend interface from the executor's side: the preview backend, and key secrecy.

The preview backend must behave like a provider for the executor (find
after a crash, idempotent wait, atomic download); the kirin backend must
never let the API key reach a log line, an exception or a file.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import traceback
from pathlib import Path
from typing import Any

import httpx
import pytest

from storyboard.errors import (
    AuthenticationError,
    DownloadError,
    ProviderError,
    TaskCreationError,
    TaskMismatch,
    UsageError,
)
from storyboard.mock.server import MockConfig, running_mock
from storyboard.provider import api
from storyboard.provider.profile import ProviderProfile
from storyboard.run.backends import attempt_external_id, create_backend
from storyboard.run.backends.base import Backend, Outcome, RemoteTask
from storyboard.run.backends.kirin import REDACTOR, KirinBackend, provider_source
from storyboard.run.backends.preview import PreviewBackend

PAYLOAD: dict[str, Any] = {
    "model": api.MODEL,
    "prompt": "a lighthouse at dawn",
    "duration": "3",
    "sound": "off",
    "mode": "std",
    "aspect_ratio": "16:9",
}


# --- the interface ----------------------------------------------------------------------


def test_factory_and_interface(tmp_path: Path) -> None:
    preview = create_backend("preview", work_dir=tmp_path)
    assert isinstance(preview, Backend)
    assert (preview.name, preview.spends_money) == ("preview", False)
    assert (KirinBackend.name, KirinBackend.spends_money) == ("kirin", True)
    with pytest.raises(UsageError, match="unknown backend"):
        create_backend("veo", work_dir=tmp_path)


def test_records_survive_a_journal_round_trip() -> None:
    remote = RemoteTask("kirin", "t1", "sb-abc", "queued")
    assert RemoteTask.from_json(remote.to_json()) == remote
    asked = RemoteTask("kirin", "t1", "sb-abc", "queued", seconds=5.0, mode="pro")
    assert RemoteTask.from_json(asked.to_json()) == asked
    # A journal written before the expectations existed still reads: nothing to check.
    old = {"backend": "kirin", "task_id": "t1", "external_task_id": "sb-abc", "status": "queued"}
    assert RemoteTask.from_json(old) == remote and remote.to_json() == old
    outcome = Outcome("kirin", "t1", "sb-abc", "completed", "https://x/y.mp4", 3.0, 0.25, {"a": 1})
    assert Outcome.from_json(outcome.to_json()) == outcome


def test_attempt_ids_are_stable_and_distinct() -> None:
    assert attempt_external_id("sb-abc", 1) == "sb-abc"
    assert attempt_external_id("sb-abc", 2) == "sb-abc-r2"
    assert attempt_external_id("sb-abc", 2) != attempt_external_id("sb-abc", 3)


# --- the preview backend ----------------------------------------------------------------------


def test_preview_renders_finds_after_a_crash_and_downloads(tmp_path: Path) -> None:
    work = tmp_path / "work"

    async def first_run() -> RemoteTask:
        async with PreviewBackend(work) as backend:
            assert await backend.find("sb-1") is None
            return await backend.submit(PAYLOAD, "sb-1", label="arrival")

    async def resumed_run() -> tuple[RemoteTask | None, Outcome, Any, list[str]]:
        seen: list[str] = []
        async with PreviewBackend(work) as backend:  # a fresh process after a crash
            found = await backend.find("sb-1")
            assert found is not None
            outcome = await backend.wait(found, on_status=seen.append)
            info = await backend.download(outcome, tmp_path / "clips" / "arrival.mp4")
            again = await backend.find("sb-1")
            return again, outcome, info, seen

    remote = asyncio.run(first_run())
    assert remote.status == "queued"
    again, outcome, info, seen = asyncio.run(resumed_run())
    assert seen == ["processing", "completed"]
    assert again is not None and again.status == "completed"
    assert outcome.cost_usd == 0.0
    assert outcome.duration == pytest.approx(3.0, abs=0.1)
    assert info.path == tmp_path / "clips" / "arrival.mp4"
    assert (info.width, info.height) == api.frame_size("std", "16:9")
    assert [p.name for p in (tmp_path / "clips").iterdir()] == ["arrival.mp4"]


def test_preview_never_fetches_from_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reference video given by URL is named on the card, never downloaded: the
    preview renders the task with every socket connection refused."""
    payload = {
        **PAYLOAD,
        "video_list": [{"video_url": "https://cdn.example.com/a.mp4", "refer_type": "feature"}],
    }
    tried: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        tried.append(address)
        raise OSError("the preview must not connect anywhere")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: tried.append(a) or [])

    async def scenario() -> Path:
        async with PreviewBackend(tmp_path) as backend:
            remote = await backend.submit(payload, "sb-net")
            outcome = await backend.wait(remote)
            return Path(outcome.raw["clip"])

    assert asyncio.run(scenario()).is_file()
    assert tried == []


# --- the key never leaks ------------------------------------------------------------------------

SECRET = "sk-SECRET-9f2c7e41-never-log-me"
WRONG = "sk-WRONG-5d1e0b77-never-log-me"


def test_redactor_scrubs_a_record_that_carries_the_key() -> None:
    REDACTOR.install(SECRET)
    record = logging.LogRecord("httpx", logging.DEBUG, __file__, 1, "hdr %s", (SECRET,), None)
    REDACTOR.filter(record)
    assert SECRET not in record.getMessage() and "***" in record.getMessage()


def test_api_key_is_absent_from_every_log_line_exception_and_file(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KIRIN_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "storyboard", "uvicorn", "uvicorn.error", "uvicorn.access"):
        caplog.set_level(logging.DEBUG, logger=name)
    config = MockConfig(
        api_key=SECRET,
        queue_seconds=0.05,
        process_seconds=0.1,
        work_dir=tmp_path / "mock",
        seed=1,  # its status stream draws 0.33 then 0.37: the first two polls get a 503
        http_5xx_rate=0.5,
        fault_endpoints=("status",),
        fault_limit=2,
        url_expiry_seconds=60,
    )
    errors: list[BaseException] = []

    async def scenario(base_url: str) -> None:
        profile = ProviderProfile(base_url=base_url, poll_initial=0.05, poll_max=0.1)
        async with KirinBackend(profile) as kirin:  # the key comes from the environment
            remote = await kirin.submit(PAYLOAD, "secret-1")
            outcome = await kirin.wait(remote)
            await kirin.download(outcome, tmp_path / "clips" / "secret-1.mp4")
            assert repr(kirin).find(SECRET) == -1
            try:
                await kirin.submit({**PAYLOAD, "aspect_ratio": "4:3"}, "secret-2")
            except ProviderError as exc:
                errors.append(exc)
        async with KirinBackend(profile, api_key=WRONG) as wrong:
            try:
                await wrong.find("secret-1")
            except AuthenticationError as exc:
                errors.append(exc)

    with running_mock(config, log_level="trace") as mock:
        asyncio.run(scenario(mock.base_url))
        assert mock.stats()["fault_http_5xx"] == 2

    assert (tmp_path / "clips" / "secret-1.mp4").is_file()
    assert [type(e) for e in errors] == [TaskCreationError, AuthenticationError]
    out, err = capfd.readouterr()
    texts = [caplog.text, out, err]
    texts += [r.getMessage() for r in caplog.records]
    texts += ["".join(traceback.format_exception(e)) for e in errors]
    assert len(caplog.records) > 5  # the run really was logged at DEBUG
    for text in texts:
        assert SECRET not in text and WRONG not in text
    assert "***" not in caplog.text  # not even the redactor had to step in
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 2  # the mock's clip and the downloaded one at least
    for path in written:
        data = path.read_bytes()
        assert SECRET.encode() not in data and WRONG.encode() not in data, path


def test_kirin_backend_repr_and_errors_hide_the_key() -> None:
    kirin = KirinBackend(ProviderProfile(base_url="http://127.0.0.1:9"), api_key=SECRET)
    assert SECRET not in repr(kirin) and SECRET not in repr(kirin._client.auth)
    asyncio.run(kirin.aclose())


def test_key_is_only_sent_to_the_provider_origin(tmp_path: Path) -> None:
    """Output URLs point at CDNs: the bearer key must not travel there."""
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("Authorization")
        if request.url.host == "cdn.example.com":
            return httpx.Response(404)
        return httpx.Response(200, json={"task_id": "t1", "status": "queued"})

    profile = ProviderProfile(base_url="https://api.example.com")
    cdn = Outcome("kirin", "t1", "origin-1", "completed", "https://cdn.example.com/c.mp4")

    async def scenario() -> None:
        transport = httpx.MockTransport(handler)
        async with KirinBackend(profile, api_key=SECRET, transport=transport) as kirin:
            await kirin.submit(PAYLOAD, "origin-1")
            await kirin.download(cdn, tmp_path / "c.mp4")

    with pytest.raises(DownloadError, match="HTTP 404"):
        asyncio.run(scenario())
    assert seen == {"api.example.com": f"Bearer {SECRET}", "cdn.example.com": None}
    assert list(tmp_path.iterdir()) == []


def test_each_provider_has_its_own_cache_shelf_unless_named_alike(tmp_path: Path) -> None:
    def source(url: str, name: str = "") -> str:
        return provider_source(ProviderProfile(base_url=url, cache_source=name))

    assert source("https://api.example.com/") == "kirin-api.example.com"
    assert source("http://127.0.0.1:8765") == "kirin-127.0.0.1_8765"
    assert source("https://gw.example:8443/kirin/v1") == "kirin-gw.example_8443_kirin_v1"
    assert source("https://eu.gw.example", "acme") == source("https://us.gw.example", "acme")
    assert PreviewBackend(tmp_path).source.startswith("preview-r")
    assert len({source("https://a.example"), PreviewBackend(tmp_path).source}) == 2


def test_answers_about_another_task_are_refused_at_create_and_lookup() -> None:
    """A gateway answering a lookup with a list picks ours out; one answering with
    another external id (a switched provider behind the same name) is refused."""
    answers = {
        "list": [
            {"task_id": "t7", "status": "completed", "metadata": {"external_task_id": "s2-x"}},
            {"task_id": "t8", "status": "queued", "metadata": {"external_task_id": "s1-a"}},
        ],
        "other": {"task_id": "t7", "status": "queued", "metadata": {"external_task_id": "s2-x"}},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={**answers["other"], "status": "queued"})
        wanted = request.url.params["external_task_id"]
        return httpx.Response(200, json=answers["list" if wanted == "s1-a" else "other"])

    async def scenario() -> tuple[RemoteTask | None, list[str]]:
        errors = []
        transport = httpx.MockTransport(handler)
        async with KirinBackend(profile, api_key=SECRET, transport=transport) as kirin:
            found = await kirin.find("s1-a")
            for call in (kirin.find("s1-b"), kirin.submit(PAYLOAD, "s1-c")):
                try:
                    await call
                except TaskMismatch as exc:
                    errors.append(str(exc))
        return found, errors

    profile = ProviderProfile(base_url="https://api.example.com")
    found, errors = asyncio.run(scenario())
    assert found == RemoteTask("kirin", "t8", "s1-a", "queued")
    assert len(errors) == 2
    assert (
        "query: the provider answered for task t7 with external id s2-x, we sent s1-b" in errors[0]
    )
    assert (
        "create: the provider answered for task t7 with external id s2-x, we sent s1-c" in errors[1]
    )
