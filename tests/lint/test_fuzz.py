"""Random mutations of real storyboards never crash lint (property-based).

Mutations: deleted keys, wrong types, huge numbers, odd unicode, truncated
files, random byte noise. Lint must answer with problems (exit 0 or 1 from
the CLI), never an exception.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from storyboard.lint.engine import lint_file
from tests.conftest import EXAMPLES
from tests.e2e.test_lint_cli import TEN_MISTAKES

SEEDS = sorted(EXAMPLES.glob("*/storyboard.yaml"))
BUILTIN = """\
storyboard: 1
vars: {style: noir}
assets:
  pic: {image: https://example.com/p.png}
  hero: {element: 5}
  clip: {video: https://example.com/v.mp4}
scenes:
  - id: a
    first_frame: pic
    shots:
      - {duration: 7, prompt: "{{ pic }} {{ style }}"}
      - {duration: 7, prompt: "<<<hero>>> walks"}
      - {duration: 2, prompt: "end"}
  - id: b
    video: {asset: clip}
    prompt: "<<<clip>>> again"
    duration: 5
  - {id: c, edit: b, prompt: night}
  - {id: d, first_frame: {from: a}, end_frame: pic, prompt: x, duration: 4}
cut:
  - a
  - {scene: c, trim: [0.5, 4], transition: {type: crossfade, duration: 0.5}}
  - d
audio: {music: score.mp3, volume: 0.5}
"""

ODD = [
    "",
    "\u202e\u0000",
    "💥" * 50,
    "\ud7ff",
    "{{",
    "%}",
    "<<<image_0>>>",
    "a" * 3000,
    "../../../etc/passwd",
    "null",
    "~",
    "-1",
]
WEIRD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def seed_texts() -> list[tuple[Path | None, str]]:
    out: list[tuple[Path | None, str]] = [(None, BUILTIN), (None, TEN_MISTAKES)]
    out += [(p, p.read_text(encoding="utf-8")) for p in SEEDS]
    return out


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(data: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value if action == "replace" else data
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    else:
        parent[last] = value
    return data


def _dump(data: Any) -> str:
    buf = io.StringIO()
    y = YAML(typ="rt")
    y.dump(data, buf)
    return buf.getvalue()


@st.composite
def mutated(draw: st.DrawFn) -> tuple[Path | None, bytes]:
    origin, text = draw(st.sampled_from(seed_texts()))
    kind = draw(st.sampled_from(["mutate", "mutate", "mutate", "truncate", "noise"]))
    if kind == "truncate":
        cut = draw(st.integers(min_value=0, max_value=len(text)))
        return origin, text[:cut].encode("utf-8")
    if kind == "noise":
        raw = bytearray(text.encode("utf-8"))
        for _ in range(draw(st.integers(1, 5))):
            at = draw(st.integers(0, max(0, len(raw) - 1)))
            raw[at : at + 1] = bytes([draw(st.integers(0, 255))])
        return origin, bytes(raw)
    data = YAML(typ="rt").load(text)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["delete", "replace"])) if path else "replace"
        value = draw(WEIRD_VALUES)
        data = _mutate(data, path, action, value)
    try:
        return origin, _dump(data).encode("utf-8", "surrogatepass")
    except Exception:  # the dumper refuses some values; fall back to the original text
        return origin, text.encode("utf-8")


def _workdir(tmp: Path, origin: Path | None) -> Path:
    work = tmp / "w"
    if work.exists():
        shutil.rmtree(work)
    if origin is not None:
        shutil.copytree(origin.parent, work, ignore=shutil.ignore_patterns("build"))
    else:
        work.mkdir()
    return work


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutated())
def test_mutations_never_crash_lint(case: tuple[Path | None, bytes], tmp_path: Path) -> None:
    origin, raw = case
    work = _workdir(tmp_path, origin)
    path = work / "storyboard.yaml"
    path.write_bytes(raw)
    result = lint_file(path)
    for p in result.problems:
        assert p.line >= 1 and p.column >= 1 and p.code.startswith("SB") and p.message


@pytest.mark.parametrize("cut", [0, 17, 90, 250])
def test_truncated_files_through_the_cli(cut: int, tmp_path: Path) -> None:
    path = tmp_path / "storyboard.yaml"
    path.write_text(BUILTIN[:cut], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "storyboard", "lint", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
