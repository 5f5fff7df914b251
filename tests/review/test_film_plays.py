"""A smart-rendered film plays to its end in a real browser: the distribution's
headless Chromium (driven by Playwright, as in test_page) decodes the joins
between copied and re-encoded stretches without a media error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storyboard.film.stitch import StitchOptions, Transition, stitch
from tests.film.test_smart import make
from tests.film.test_stitch import TONES, clip
from tests.review.browser import CHROMIUM, chromium
from tests.review.test_page import PLAY_GUARD_MS

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent", allow_module_level=True)

from playwright.sync_api import BrowserContext

PAGE = """<!doctype html><meta charset="utf-8">
<video id="film" src="film.mp4" muted playsinline preload="auto"></video>"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with chromium(profile, args=("--autoplay-policy=no-user-gesture-required",)) as context:
        yield context


@pytest.mark.parametrize("x264", ["ultrafast", "medium"])
def test_a_smart_film_plays_to_its_end(browser: BrowserContext, tmp_path: Path, x264: str) -> None:
    options = ("-preset", x264, "-g", "24", "-sc_threshold", "0")
    paths = [make(tmp_path / f"{n}.mp4", tone=TONES[n], x264=options) for n in range(4)]
    fade = Transition("fade", 0.5)
    cut = [
        clip(paths[0]),
        clip(paths[1], transition=Transition("crossfade", 0.5)),
        clip(paths[2], trim=(0.25, 2.0)),
        clip(paths[3], transition=fade),
    ]
    quick = StitchOptions(preset="ultrafast", loudness=None)
    result = stitch(cut, tmp_path / "film.mp4", options=quick)
    assert result.method == "smart"
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")
    page = browser.new_page()
    page.goto((tmp_path / "index.html").as_uri(), wait_until="load")
    page.evaluate(
        """() => {
            const video = document.getElementById("film");
            const report = (how) => { window.played = {
                how,
                error: video.error && video.error.code,
                frames: video.getVideoPlaybackQuality().totalVideoFrames,
            }; };
            video.addEventListener("ended", () => report("ended"));
            video.addEventListener("error", () => report("error"));
            video.playbackRate = 4;
            video.play().catch((e) => report("refused: " + e));
        }""",
    )
    page.wait_for_function("() => window.played", timeout=PLAY_GUARD_MS)  # a hang guard
    played = page.evaluate("() => window.played")
    page.close()
    assert played["how"] == "ended" and played["error"] is None, played
    # Decoded (shown or dropped at that speed): nearly every frame of the film.
    assert played["frames"] >= 0.9 * result.frames, (played, result.frames)
