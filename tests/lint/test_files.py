"""Local files and URLs: checked for real (Pillow, PyAV, HTTP on loopback)."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from storyboard.lint.engine import lint_file
from tests.conftest import make_png, make_video


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    make_png(root / "ok.png", (400, 400))
    (root / "page.png").write_text("<html>not an image</html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def story(tmp_path: Path, assets: str, extra: str = "") -> Path:
    path = tmp_path / "s" / "storyboard.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"storyboard: 1\n{extra}assets:\n{assets}scenes:\n  - {{id: a, prompt: x, duration: 5}}\n"
    )
    return path


def test_urls_are_checked_only_when_asked(tmp_path: Path, server: str) -> None:
    path = story(
        tmp_path,
        f"  good: {{image: {server}/ok.png}}\n  gone: {{image: {server}/missing.png}}\n"
        f"  html: {{image: {server}/page.png}}\n",
    )
    assert lint_file(path).problems == []
    problems = lint_file(path, check_urls=True, allow_private_urls=True).problems  # loopback
    assert [(p.line, p.code) for p in problems] == [(4, "SB507"), (5, "SB507")]
    assert "HTTP 404" in problems[0].message and "not a PNG or JPEG" in problems[1].message


def test_image_limits_of_r9(tmp_path: Path) -> None:
    base = tmp_path / "s"
    make_png(base / "wide.png", (1000, 300))  # 3.33:1
    make_png(base / "edge.png", (750, 300))  # exactly 2.5:1 is allowed
    make_png(base / "tiny.png", (299, 400))
    (base / "fake.jpg").write_bytes((base / "edge.png").read_bytes())  # PNG content, .jpg name
    path = story(
        tmp_path,
        "  wide: {image: wide.png}\n  edge: {image: edge.png}\n  tiny: {image: tiny.png}\n"
        "  fake: {image: fake.jpg}\n",
    )
    problems = {(p.line, p.code) for p in lint_file(path).problems}
    assert problems == {(3, "SB504"), (5, "SB504")}


def test_video_limits_of_r14(tmp_path: Path) -> None:
    base = tmp_path / "s"
    make_video(base / "small.mp4", size="640x360", seconds=3)
    make_video(base / "slow.mp4", size="1280x720", seconds=3, fps=12)
    make_video(base / "ok.mp4", size="1280x720", seconds=3)
    path = story(
        tmp_path,
        "  small: {video: small.mp4}\n  slow: {video: slow.mp4}\n  ok: {video: ok.mp4}\n",
        extra="assets_base_url: https://cdn.example.com/x/\n",
    )
    problems = lint_file(path).problems
    assert [(p.line, p.code) for p in problems] == [(4, "SB505"), (5, "SB505")]
    assert "640x360" in problems[0].message and "fps" in problems[1].message


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = make_png(tmp_path / "outside.png", (400, 400))
    base = tmp_path / "s"
    base.mkdir()
    os.symlink(outside, base / "link.png")
    path = story(tmp_path, "  p: {image: link.png}\n")
    assert [p.code for p in lint_file(path).problems] == ["SB502"]
    allowed = story(tmp_path, "  p: {image: link.png}\n", extra="asset_root: ..\n")
    assert lint_file(allowed).problems == []


def test_a_missing_file_suggests_the_one_beside_it(tmp_path: Path) -> None:
    """Another extension, another case, or a close spelling, in the same folder."""
    base = tmp_path / "s"
    for name in ("logo.png", "Hero.png", "sunset.png"):
        make_png(base / "assets" / name, (400, 400))
    path = story(
        tmp_path,
        "  logo: {image: assets/logo.jpg}\n  hero: {image: assets/hero.png}\n"
        "  sun: {image: assets/sunst.png}\n  far: {image: assets/nothing.png}\n",
    )
    hints = [(p.line, p.code, p.hint.split(" (")[0]) for p in lint_file(path).problems]
    assert hints == [
        (3, "SB501", "did you mean 'assets/logo.png'?"),
        (4, "SB501", "did you mean 'assets/Hero.png'?"),
        (5, "SB501", "did you mean 'assets/sunset.png'?"),
        (6, "SB501", f"looked for {(base / 'assets' / 'nothing.png').resolve()}"),
    ]
