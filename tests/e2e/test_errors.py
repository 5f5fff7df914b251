"""The error boundary through the real CLI: what a user can cause ends in one line
and an exit code (1 for the storyboard, 2 for the machine), never a traceback.

- a NUL byte in any path the storyboard names is a problem at its line and
  column, from lint and from every command that compiles;
- a lone surrogate (a YAML escape no UTF-8 file can hold) is a problem at its
  place, not a UnicodeEncodeError when plan.json is written;
- an ffmpeg that is missing or cannot run stops `render` with one line, exit 2
  (it once ended as an "Exception Group Traceback" and exit 1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, make_png

SCENE = "scenes:\n  - {id: s, prompt: hi, duration: 5}\n"
NUL = "x\\u0000y"  # as YAML writes it inside double quotes

# (where, storyboard text, the problem's place and code)
NUL_PATHS = [
    ("image", f'assets:\n  a: {{image: "{NUL}.png"}}\n{SCENE}', "3:14: SB502"),
    ("video", f'assets:\n  v: {{video: "{NUL}.mp4"}}\n{SCENE}', "3:14: SB502"),
    ("music", f'audio: {{music: "{NUL}.mp3"}}\n{SCENE}', "2:16: SB502"),
    ("include", f'include: ["{NUL}.yaml"]\n{SCENE}', "2:11: SB006"),
    ("output", f'output: "{NUL}.mp4"\n{SCENE}', "2:9: SB502"),
    ("asset_root", f'asset_root: "{NUL}"\nassets:\n  a: {{image: p.png}}\n{SCENE}', "2:13: SB502"),
    (
        "first_frame",
        'scenes:\n  - {id: s, prompt: hi, duration: 5, first_frame: "' + NUL + '.png"}\n',
        "3:51: SB100",
    ),
]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storyboard", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env=env,
        check=False,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]


@pytest.mark.parametrize(("where", "text", "place"), NUL_PATHS, ids=[w for w, _, _ in NUL_PATHS])
def test_a_nul_byte_in_a_path_is_a_problem_at_its_place(
    where: str, text: str, place: str, tmp_path: Path
) -> None:
    make_png(tmp_path / "p.png", (400, 400))
    path = tmp_path / "storyboard.yaml"
    path.write_text("storyboard: 1\n" + text, encoding="utf-8")
    lint = cli("lint", str(path))
    no_traceback(lint)
    assert lint.returncode == 1, (lint.stdout, lint.stderr)
    assert f"storyboard.yaml:{place}" in lint.stdout, lint.stdout
    assert "NUL byte" in lint.stdout or "null byte" in lint.stdout or "SB100" in place
    compiled = cli("compile", str(path), "--build-dir", str(tmp_path / "build"))
    no_traceback(compiled)
    assert compiled.returncode == 1 and f"storyboard.yaml:{place}" in compiled.stderr


@pytest.mark.parametrize("command", ["plan", "render"])
def test_a_nul_byte_in_the_output_stops_plan_and_render(command: str, tmp_path: Path) -> None:
    path = tmp_path / "storyboard.yaml"
    path.write_text(f'storyboard: 1\noutput: "{NUL}.mp4"\n{SCENE}', encoding="utf-8")
    result = cli(command, str(path), "--cache-dir", str(tmp_path / "cache"))
    no_traceback(result)
    assert result.returncode == 1 and "storyboard.yaml:2:9: SB502" in result.stderr


@pytest.mark.parametrize("command", ["lint", "compile"])
def test_a_lone_surrogate_is_a_problem_at_its_place(command: str, tmp_path: Path) -> None:
    path = tmp_path / "storyboard.yaml"
    path.write_text(f'storyboard: 1\ntitle: "a\\ud800b"\n{SCENE}', encoding="utf-8")
    result = cli(
        command, str(path), *(["--build-dir", str(tmp_path)] if command == "compile" else [])
    )
    no_traceback(result)
    assert result.returncode == 1
    assert (
        "storyboard.yaml:2:8: SB001 the text holds a lone surrogate"
        in result.stdout + result.stderr
    )


def unusable_ffmpeg(kind: str, tmp_path: Path) -> tuple[str, str]:
    """A STORYBOARD_FFMPEG that cannot run, and the line that must say so."""
    if kind == "missing":
        return "/nonexistent", "storyboard: STORYBOARD_FFMPEG=/nonexistent is not a file"
    text = tmp_path / "not-a-program"
    text.write_text("plain text, no program\n", encoding="utf-8")
    text.chmod(0o755 if kind == "not-a-program" else 0o644)
    reason = "[Errno 8] Exec format error" if kind == "not-a-program" else "[Errno 13]"
    return str(text), f"storyboard: cannot run ffmpeg ({text}): {reason}"


@pytest.mark.parametrize("kind", ["missing", "not-a-program", "not-executable"])
def test_render_without_a_usable_ffmpeg_is_one_line_and_exit_2(kind: str, tmp_path: Path) -> None:
    shutil.copytree(
        EXAMPLES / "lighthouse", tmp_path / "film", ignore=shutil.ignore_patterns("build")
    )
    ffmpeg, line = unusable_ffmpeg(kind, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIRIN_", "STORYBOARD_"))}
    env["STORYBOARD_FFMPEG"] = ffmpeg
    result = cli(
        "render",
        str(tmp_path / "film" / "storyboard.yaml"),
        "--cache-dir",
        str(tmp_path / "cache"),
        env=env,
    )
    no_traceback(result)
    assert result.returncode == 2, result.stderr[-3000:]
    said = [ln for ln in result.stderr.splitlines() if ln.startswith("storyboard:")]
    assert len(said) == 1 and said[0].startswith(line), result.stderr[-3000:]
    assert not (tmp_path / "film" / "build" / "storyboard" / "storyboard.mp4").exists()
