"""The review page in a real headless Chromium (the distribution's, driven by
Playwright), against `storyboard review` started through the real command line
on a free loopback port; and its static copy opened from file://."""

from __future__ import annotations

import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from storyboard.language.selection import load_selection, selection_path
from tests.review.browser import CHROMIUM, chromium
from tests.review.conftest import STORY, cli_env, storyboard_cli

START_GUARD = 60.0  # hang guards only: nothing is measured by them
PLAY_GUARD_MS = 20_000

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is absent (.ci/run installs Debian's chromium)", allow_module_level=True
    )

from playwright.sync_api import BrowserContext, Page  # noqa: E402


@pytest.fixture(scope="module")
def served(
    rendered: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """`storyboard review --port 0` on a copy of the build: (its URL, the folder)."""
    import shutil

    source, cache = rendered
    folder = tmp_path_factory.mktemp("served") / "story"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("cache", "red.mp4"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "storyboard", "review", STORY, "--port", "0"],
        cwd=folder,
        env=cli_env(cache),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _url_from(proc)
        yield url, folder
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _url_from(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + START_GUARD
    said = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        if ready:
            line = proc.stderr.readline()
            said += line
            found = re.search(r"http://127\.0\.0\.1:\d+/", line)
            if found:
                return found.group(0)
            if not line and proc.poll() is not None:
                break
    raise AssertionError(f"storyboard review printed no URL: {said!r}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with chromium(profile, viewport={"width": 1280, "height": 1800}) as context:
        yield context


def _open(context: BrowserContext, url: str) -> tuple[Page, list[str]]:
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    return page, errors


def _plays(page: Page, selector: str) -> float:
    """Play the (muted) video at `selector` until its currentTime moves; return it."""
    page.eval_on_selector(selector, "v => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        f"document.querySelector({selector!r}).currentTime > 0.2", timeout=PLAY_GUARD_MS
    )
    now: Any = page.eval_on_selector(selector, "v => v.currentTime")
    return float(now)


def test_the_page_loads_clean_and_a_take_plays(
    served: tuple[str, Path], browser: BrowserContext
) -> None:
    url, _ = served
    page, errors = _open(browser, url)
    assert page.locator(".take").count() == 3
    assert page.locator('[data-address="opening@1"]').get_attribute("data-picked") == "yes"
    assert page.locator(".timeline button").count() == 2
    assert page.locator(".refs img").count() == 1  # walk's first frame: opening's last
    assert _plays(page, '[data-address="opening@2"] video') > 0.2
    page.locator(".timeline button").nth(1).click()  # the cut's second scene
    assert float(page.eval_on_selector("#film", "v => v.currentTime")) >= 4.5
    assert errors == []
    page.close()


def test_pick_on_the_page_writes_the_selection_and_the_page_follows(
    served: tuple[str, Path], browser: BrowserContext
) -> None:
    url, folder = served
    page, errors = _open(browser, url)
    page.locator('[data-address="opening@2"] button.pick').click()
    page.wait_for_selector('[data-address="opening@2"][data-picked="yes"]', timeout=PLAY_GUARD_MS)
    chosen = load_selection(selection_path(folder / STORY)).tasks["opening"].pick
    assert chosen is not None and chosen.take == 2
    picked = page.locator('.take[data-picked="yes"]')
    assert "opening@2" in [picked.nth(i).get_attribute("data-address") for i in range(2)]
    assert page.locator('[data-address="opening@1"]').get_attribute("data-picked") == "no"
    assert errors == []
    page.close()


def test_the_page_reloads_itself_when_the_film_is_cut_again(
    served: tuple[str, Path], browser: BrowserContext
) -> None:
    url, folder = served
    page, errors = _open(browser, url)
    page.evaluate("window.stillTheSamePage = true")
    film = folder / "build" / "sb" / "sb.mp4"
    film.write_bytes(film.read_bytes())  # what a new stitch leaves: the film rewritten
    page.wait_for_function("window.stillTheSamePage === undefined", timeout=PLAY_GUARD_MS)
    assert page.locator("#film").count() == 1
    assert errors == []
    page.close()


def test_the_page_shows_a_take_added_while_it_is_open(
    rendered: tuple[Path, Path], browser: BrowserContext, tmp_path: Path
) -> None:
    import shutil

    source, cache = rendered
    folder, own_cache = tmp_path / "story", tmp_path / "cache"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("cache"))
    shutil.copytree(cache, own_cache)  # this test's retake stays its own
    env = cli_env(own_cache)
    proc = subprocess.Popen(
        [sys.executable, "-m", "storyboard", "review", STORY, "--port", "0"],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        page, errors = _open(browser, _url_from(proc))
        assert page.locator('[data-address="opening@3"]').count() == 0
        url = page.url
        done = storyboard_cli("retake", STORY, "opening", env=env, cwd=folder)
        assert done.returncode == 0, done.stderr
        settled = httpx.get(url + "state", timeout=START_GUARD).json()["state"]
        # the page reloads (maybe more than once while the retake wrote its files)
        # until it shows the state as the retake left it
        page.wait_for_function(
            f"document.body && document.body.dataset.state === {settled!r}", timeout=PLAY_GUARD_MS
        )
        page.wait_for_load_state("load")
        assert page.locator('[data-address="opening@3"]').count() == 1
        assert _plays(page, '[data-address="opening@3"] video') > 0.2
        assert errors == []
        page.close()

        # mid-edit, the storyboard does not lint: the page says why, and recovers
        text = (folder / STORY).read_text(encoding="utf-8")
        (folder / STORY).write_text(text + "\nnot_a_key: 1\n", encoding="utf-8")
        broken = httpx.get(url, timeout=START_GUARD)
        assert broken.status_code == 503 and "not_a_key" in broken.text
        (folder / STORY).write_text(text, encoding="utf-8")
        assert httpx.get(url, timeout=START_GUARD).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_served_files_are_only_those_the_page_names(served: tuple[str, Path]) -> None:
    url, _ = served
    with httpx.Client(base_url=url, timeout=30) as client:
        whole = client.get("media/film.mp4")
        assert whole.status_code == 200 and whole.content[4:8] == b"ftyp"
        part = client.get("media/film.mp4", headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == whole.content[100:200]
        for path in (
            "media/../../../../etc/passwd",
            "media/..%2f..%2f..%2fetc%2fpasswd",
            "media/%2e%2e/%2e%2e/plan.json",
            "media/clips/../../sb.yaml",
            "media/build/plan.json",
            "media//etc/passwd",
            "media/clips/opening@9.mp4",
        ):
            answer = client.get(path)
            assert answer.status_code == 404, path
            assert b"storyboard" not in answer.content
        refused = client.post("api/pick", data={"task": "opening", "take": "7"})
        assert refused.status_code == 400 and "known takes" in refused.json()["message"]
        # another site's page cannot pick for you, nor a rebinding one read the page
        evil = {"task": "opening", "take": "2"}
        answer = client.post("api/pick", data=evil, headers={"Origin": "http://evil.test"})
        assert answer.status_code == 403
        assert client.get("", headers={"Host": "evil.test"}).status_code == 400
        assert client.get("state", headers={"Host": "evil.test:80"}).status_code == 400
        assert client.get("", headers={"Host": "localhost"}).status_code == 200


def test_the_static_copy_plays_from_file_urls(
    workdir: tuple[Path, dict[str, str]], browser: BrowserContext, tmp_path: Path
) -> None:
    folder, env = workdir
    out = tmp_path / "shared"
    done = storyboard_cli("review", STORY, "--static", str(out), env=env, cwd=folder)
    assert done.returncode == 0, done.stderr
    page, errors = _open(browser, (out / "index.html").as_uri())
    assert page.locator("button.pick").count() == 0  # read-only
    assert _plays(page, '[data-address="opening@2"] video') > 0.2
    assert _plays(page, "#film") > 0.2
    assert errors == []
    page.close()
