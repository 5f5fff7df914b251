"""Start-up: a command imports what it uses, and nothing heavy before it knows it must.

Each case runs in a fresh interpreter (a test process has long imported
everything) and reads back the names in `sys.modules` once the command is done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_png, make_video

# Heavy for a start-up, and needed only by some commands.
MEDIA = {"av", "numpy", "PIL"}
SERVERS = {"starlette", "uvicorn", "httpx"}
STAGES = {"networkx", "jsonschema", "jinja2", "ruamel"}

PROGRAM = """
import json, sys
from storyboard.cli import main
try:
    main(sys.argv[1:], prog_name="storyboard")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(m.split(".")[0] for m in sys.modules)}))
"""


def imported(*args: str, cwd: Path = ROOT) -> tuple[int, str, set[str]]:
    """The CLI's exit code for `args`, what it printed, and the top-level packages it
    had imported by the end."""
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard only
        check=False,
    )
    *said, last = proc.stdout.strip().splitlines()
    answer = json.loads(last)
    return int(answer["code"] or 0), "\n".join(said), set(answer["modules"])


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["lint", "--help"]])
def test_help_and_version_import_no_stage(args: list[str]) -> None:
    code, said, modules = imported(*args)
    assert code == 0 and said
    assert not modules & (MEDIA | SERVERS | STAGES), sorted(modules & (MEDIA | SERVERS | STAGES))


STORY = """\
storyboard: 1
assets:
  keeper: {image: keeper.png}
  far: {image: https://cdn.example.com/far.png}
scenes:
  - {id: a, prompt: "<<<image_1>>> at dawn", duration: 5, images: [keeper]}
  - {id: b, first_frame: {from: a}, prompt: "<<<image_1>>> at noon", duration: 5, images: [far]}
"""


CYCLE = """\
storyboard: 1
scenes:
  - {id: a, first_frame: {from: b}, prompt: x, duration: 5}
  - {id: b, edit: a, prompt: y}
"""
VIDEO = """\
storyboard: 1
assets:
  ref: {video: ref.mp4}
scenes:
  - {id: a, video: {asset: ref, refer: feature}, prompt: z, duration: 5}
"""


def test_lint_imports_pyav_networkx_and_httpx_only_when_used(tmp_path: Path) -> None:
    make_png(tmp_path / "keeper.png", (400, 400))
    make_video(tmp_path / "ref.mp4", size="1280x720", seconds=3)
    for name, text in (("story", STORY), ("cycle", CYCLE), ("video", VIDEO)):
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    # An image, a URL (not checked without --check-urls) and no loop: none of the three.
    code, _, modules = imported("lint", "story.yaml", cwd=tmp_path)
    assert code == 0
    assert "PIL" in modules  # the image is read, with what reads images and only that
    assert not modules & {"av", "numpy", "networkx", *SERVERS}, sorted(modules)
    # A loop: networkx lists it, as before.
    code, said, modules = imported("lint", "cycle.yaml", cwd=tmp_path)
    assert code == 1 and "dependency cycle: a needs b, b needs a" in said
    assert "networkx" in modules and "av" not in modules
    # A video: PyAV probes and decodes it.
    code, _, modules = imported("lint", "video.yaml", cwd=tmp_path)
    assert code == 0 and "av" in modules and "networkx" not in modules
