"""Callbacks from the render's side: tokens, addresses, the hub and the receiver.

The receiver is served over real HTTP on 127.0.0.1 in the test's event loop;
what it hands on is recorded by a sink of the test's (`tests.receivers`), or
is the real `LocalHub` a render uses.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import stat
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from storyboard.errors import EnvironmentProblem, UsageError
from storyboard.run.callbacks import SECRET_ENV, CallbackKey, Listen, LocalHub, key_file, load_key
from storyboard.run.callbacks.address import check_callback_url, default_listen, parse_listen
from storyboard.run.callbacks.receiver import MAX_BODY_BYTES, ForwardSink
from tests.receivers import KEY, PREFIX, Recorder, serving

SECRET = "test-callback-secret-0123456789abcdef"  # the one behind tests.receivers.KEY


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- tokens -------------------------------------------------------------------------------


def test_a_token_is_the_hmac_of_the_external_id_and_opens_only_its_task() -> None:
    expected = hmac.new(SECRET.encode(), b"sb-abc", hashlib.sha256).hexdigest()
    assert KEY.token("sb-abc") == expected
    assert KEY.verify("sb-abc", expected)
    assert not KEY.verify("sb-abd", expected)  # another task's
    assert not KEY.verify("sb-abc", expected[:-1] + ("0" if expected[-1] != "0" else "1"))
    assert not KEY.verify("sb-abc", "")
    assert not KEY.verify("sb-abc", "é" * 64)  # not even ASCII: refused, not an error
    other = CallbackKey(b"another-secret-of-enough-length!")
    assert other.token("sb-abc") != expected  # another machine's secret, another token


def test_a_task_url_quotes_the_external_id() -> None:
    url = KEY.url("http://127.0.0.1:9/cb/", "a/b c")
    assert url == f"http://127.0.0.1:9/cb/{quote('a/b c', safe='')}/{KEY.token('a/b c')}"
    assert url.count("/") == 5  # the id's slash is quoted: one segment


def test_the_secret_never_shows() -> None:
    key = CallbackKey(SECRET.encode())
    assert SECRET not in repr(key) and SECRET not in str(key)
    with pytest.raises(EnvironmentProblem) as short:
        CallbackKey(b"short")
    assert "short" not in str(short.value)


def test_the_secret_comes_from_the_environment_when_set(tmp_path: Path) -> None:
    env = {SECRET_ENV: SECRET, "XDG_CONFIG_HOME": str(tmp_path)}
    assert load_key(env).token("x") == KEY.token("x")
    assert not (tmp_path / "storyboard").exists()  # no key file made
    with pytest.raises(EnvironmentProblem, match=SECRET_ENV) as weak:
        load_key({SECRET_ENV: "tooshort", "XDG_CONFIG_HOME": str(tmp_path)})
    assert "tooshort" not in str(weak.value)


def test_else_a_key_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    path = key_file(env)
    assert path == tmp_path / "config" / "storyboard" / "callback.key"
    first = load_key(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_key(env).token("sb-1") == first.token("sb-1")  # the same key again
    secret = path.read_text().strip()
    assert len(secret) == 64 and CallbackKey(secret.encode()).token("sb-1") == first.token("sb-1")
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary left behind


def test_without_xdg_the_key_lives_under_the_home_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    assert key_file({}) == Path("/home/someone/.config/storyboard/callback.key")


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    load_key(env)
    path = key_file(env)
    os.chmod(path, 0o644)
    with pytest.raises(EnvironmentProblem, match="chmod 600") as refused:
        load_key(env)
    assert path.read_text().strip() not in str(refused.value)
    path.write_text("")
    os.chmod(path, 0o600)
    with pytest.raises(EnvironmentProblem, match="not a key"):
        load_key(env)


# --- addresses ----------------------------------------------------------------------------


def test_callback_urls_and_listen_addresses_are_checked() -> None:
    assert check_callback_url("http://127.0.0.1:8766/cb/") == "http://127.0.0.1:8766/cb"
    for bad in ("ftp://x/cb", "127.0.0.1:8766", "http:///cb", "http://h/cb?x=1", "http://h:99999/"):
        with pytest.raises(UsageError, match="--callback-url"):
            check_callback_url(bad)
    assert parse_listen("127.0.0.1:8766") == Listen("127.0.0.1", 8766)
    assert parse_listen("[::1]:0") == Listen("::1", 0)
    for bad in ("8766", "host:", ":80", "h:70000", "h:x"):
        with pytest.raises(UsageError, match="HOST:PORT"):
            parse_listen(bad)
    assert default_listen("http://localhost:9000/cb") == Listen("localhost", 9000)
    assert default_listen("http://127.0.0.5:0/cb") == Listen("127.0.0.5", 0)
    for elsewhere in ("http://hooks.example.com/cb", "https://127.0.0.1:8443/cb"):
        with pytest.raises(UsageError, match="--callback-listen"):
            default_listen(elsewhere)


def test_a_url_on_port_0_needs_a_receiver_on_port_0() -> None:
    with pytest.raises(UsageError, match="port 0"):
        LocalHub(KEY, "http://127.0.0.1:0/cb", listen=Listen("127.0.0.1", 9000))


# --- the in-process hub ---------------------------------------------------------------------


def test_the_hub_keeps_a_notice_until_it_is_waited_for_and_coalesces_a_burst() -> None:
    async def scenario() -> None:
        hub = LocalHub(KEY, "http://127.0.0.1:9/cb")  # no receiver: deliver by hand
        assert not await hub.deliver("sb-1", {"status": "queued"})  # unknown yet
        assert await hub.wait_notice("sb-1", 0) is None  # waiting makes it known
        url = hub.url_for("sb-2")
        assert url == KEY.url("http://127.0.0.1:9/cb", "sb-2")
        assert await hub.deliver("sb-2", {"status": "queued"})
        assert await hub.deliver("sb-2", {"status": "processing"})
        assert await hub.wait_notice("sb-2", 5) == {"status": "processing"}  # the latest
        assert await hub.wait_notice("sb-2", 0) is None  # taken: one wake-up per burst
        waiter = asyncio.create_task(hub.wait_notice("sb-2", 30))
        await asyncio.sleep(0)
        assert await hub.deliver("sb-2", {})
        assert await waiter == {}
        assert await hub.wait_notice("sb-1", 0.01) is None  # nothing for the other task

    run(scenario())


def test_the_render_hub_serves_where_its_url_points_and_names_its_real_port() -> None:
    async def scenario() -> None:
        async with LocalHub(KEY, "http://127.0.0.1:0/cb", listen=Listen("127.0.0.1", 0)) as hub:
            where = hub.listen_address
            assert where is not None and where.port != 0
            assert hub.base_url == f"http://127.0.0.1:{where.port}/cb"
            url = hub.url_for("sb-9")
            async with httpx.AsyncClient() as client:
                answer = await client.post(url, json={"status": "completed"})
            assert answer.status_code == 200
            assert await hub.wait_notice("sb-9", 5) == {"status": "completed"}
        with pytest.raises(httpx.ConnectError):  # closed with the hub
            httpx.post(url, json={})

    run(scenario())


def test_a_port_in_use_is_a_clear_problem() -> None:
    async def scenario() -> None:
        async with LocalHub(KEY, "http://127.0.0.1:0/cb", listen=Listen("127.0.0.1", 0)) as hub:
            assert hub.listen_address is not None
            taken = hub.listen_address.port
            other = LocalHub(KEY, f"http://127.0.0.1:{taken}/cb", listen=Listen("127.0.0.1", taken))
            with pytest.raises(
                EnvironmentProblem, match=f"cannot listen for callbacks on 127.0.0.1:{taken}"
            ):
                await other.open()

    run(scenario())


# --- the receiver ---------------------------------------------------------------------------


def test_the_receiver_hands_on_only_posts_with_the_task_s_token() -> None:
    """Valid: 200 and handed on. Anything else: 404 (413 for a body over the bound), and
    the sink is never called."""

    async def scenario() -> tuple[dict[str, int], Recorder]:
        sink = Recorder(known={"sb-1", "a/b"})
        async with serving(sink) as base, httpx.AsyncClient() as client:
            good = KEY.url(base, "sb-1")
            origin = base.removesuffix(PREFIX)
            answers = {
                "valid": (await client.post(good, json={"status": "processing"})).status_code,
                "quoted id": (await client.post(KEY.url(base, "a/b"), json={})).status_code,
                "not json": (await client.post(good, content=b"<html>")).status_code,
                "wrong token": (
                    await client.post(f"{base}/sb-1/{KEY.token('sb-2')}", json={"status": "x"})
                ).status_code,
                "no token": (await client.post(f"{base}/sb-1", json={})).status_code,
                "unknown task": (await client.post(KEY.url(base, "sb-2"), json={})).status_code,
                "GET": (await client.get(good)).status_code,
                "PUT": (await client.put(good, json={})).status_code,
                "other prefix": (
                    await client.post(KEY.url(origin + "/other", "sb-1"), json={})
                ).status_code,
                "no prefix": (await client.post(KEY.url(origin, "sb-1"), json={})).status_code,
                "extra segment": (await client.post(good + "/x", json={})).status_code,
                "oversized": (
                    await client.post(good, content=b"x" * (MAX_BODY_BYTES + 1))
                ).status_code,
                "oversized, chunked": (
                    await client.post(good, content=_chunks(MAX_BODY_BYTES + 1))
                ).status_code,
            }
        return answers, sink

    answers, sink = run(scenario())
    assert answers == {
        "valid": 200,
        "quoted id": 200,
        "not json": 200,
        "wrong token": 404,
        "no token": 404,
        "unknown task": 404,
        "GET": 404,
        "PUT": 404,
        "other prefix": 404,
        "no prefix": 404,
        "extra segment": 404,
        "oversized": 413,
        "oversized, chunked": 413,
    }
    assert [(ext, body) for ext, body, _ in sink.got] == [
        ("sb-1", {"status": "processing"}),
        ("a/b", {}),
        ("sb-1", {}),  # a body that is not a JSON object is handed on empty: a wake-up
    ]


async def _chunks(size: int) -> Any:
    """A body without Content-Length (chunked), `size` bytes in 4 KiB pieces."""
    for start in range(0, size, 4096):
        yield b"y" * min(4096, size - start)


def test_a_forward_sink_hands_notices_to_a_render_s_receiver(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A public receiver in front (forwarding) and the render's hub behind it: a valid
    notice arrives at the hub; one the hub does not know is a 404 back at the front;
    a hub that is gone is a 503 (the provider may try again)."""

    async def scenario() -> dict[str, Any]:
        hub = LocalHub(KEY, "http://127.0.0.1:0/behind", listen=Listen("127.0.0.1", 0))
        async with (
            hub,
            ForwardSink(KEY, hub.base_url) as forward,
            serving(forward) as front,
            httpx.AsyncClient() as client,
        ):
            hub.url_for("sb-1")
            said = {
                "valid": (await client.post(KEY.url(front, "sb-1"), json={"n": 1})).status_code,
                "unknown": (await client.post(KEY.url(front, "sb-7"), json={})).status_code,
                "forged": (await client.post(f"{front}/sb-1/{'0' * 64}", json={})).status_code,
            }
            said["handed on"] = await hub.wait_notice("sb-1", 5)
            said["then"] = await hub.wait_notice("sb-1", 0)
            await hub.aclose()
            said["hub gone"] = (await client.post(KEY.url(front, "sb-1"), json={})).status_code
        return said

    with caplog.at_level(logging.DEBUG):
        said = run(scenario())
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request: POST" in logged and KEY.token("sb-1") not in logged
    assert said == {
        "valid": 200,
        "unknown": 404,
        "forged": 404,
        "handed on": {"n": 1},
        "then": None,  # the forged one never reached the hub
        "hub gone": 503,
    }
