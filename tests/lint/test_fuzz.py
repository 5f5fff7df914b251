"""Hostile and mutated storyboards never crash lint or compile (deterministic).

Two halves, both the same on every run:
- every string position of two seed storyboards (every value and every key: paths,
  prompts, ids, names, URLs) in turn holds each of the HOSTILE strings (control
  characters, NUL bytes, lone surrogates, very long text). Lint answers with
  problems, and what it passes compiles to a plan; for the local seed, the first
  of each kind that lints clean goes on through `storyboard plan` and
  `storyboard render` (preview backend).
- random mutations of the seeds and the examples (deleted keys, wrong types, huge
  numbers, odd unicode, truncated files, byte noise), drawn by hypothesis with a
  fixed seed (`derandomize`) and no example database: a failure found once is
  found on every run, and a green run stays green.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from storyboard.bounds import MAX_TEMPLATE_CHARS
from storyboard.compile.compiler import write_plan
from storyboard.lint.engine import LintResult, lint_file
from storyboard.media import run_ffmpeg
from storyboard.pipeline import compile_storyboard
from tests.conftest import EXAMPLES, make_png
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
# Every path position with a real file behind it, so that a clean lint is possible
# and a hostile value is what makes the difference.
LOCAL = """\
storyboard: 1
title: Local files
output: renders/film.mp4
include: [more.yaml]
asset_root: .
assets_base_url: https://example.com/film/
vars: {style: noir, mood: [calm, grey]}
assets:
  pic: {image: pic.png, description: a picture}
audio: {music: score.m4a, volume: 0.5}
film: {size: first}
scenes:
  - id: a
    title: the opening
    first_frame: pic
    shots:
      - {id: wide, duration: 3, prompt: "{{ pic }} {{ style }} {{ lamp }}"}
"""
MORE = "vars: {lamp: a lamp}\n"

# The strings a stranger's storyboard may hold anywhere (as the YAML escapes them).
HOSTILE = {
    "nul": "x\x00y.png",
    "control": "\x01\x07\x08\x0b\x1b[2J\x7f\x85\u2028.png",
    "surrogate": "\ud800x\udfff.png",
    "long": "a" * (MAX_TEMPLATE_CHARS + 1),  # past every bound on text
}
RENDERED = 1  # hostile cases of each kind that lint clean and go on to plan and render


# --- the hostile strings in every string position ------------------------------------
def _strings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string position: ("value", path) for a string value, ("key", path) for a key."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str):
                yield ("key", (*path, k)), k
            yield from _strings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, (*path, i))
    elif isinstance(node, str):
        yield ("value", path), node


def _with(data: Any, where: tuple[Any, ...], value: str) -> Any:
    """A copy of `data` with the string at `where` replaced by `value`."""
    kind, path = where
    out = copy.deepcopy(data)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    if kind == "value":
        parent[path[-1]] = value
    else:  # the key, keeping its place
        items = list(parent.items())
        parent.clear()
        parent.update((value if k == path[-1] else k, v) for k, v in items)
    return out


def as_yaml(data: Any) -> str:
    """JSON is YAML: control characters and lone surrogates travel as escapes, so
    each arrives in its string position exactly as written."""
    return json.dumps(data, indent=1, ensure_ascii=True)


def local_folder(folder: Path, media: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(media / "pic.png", folder / "pic.png")
    shutil.copy(media / "score.m4a", folder / "score.m4a")
    (folder / "more.yaml").write_text(MORE, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz-media")
    make_png(folder / "pic.png", (640, 360))
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(folder / "score.m4a")])
    return folder


def well_formed(result: LintResult) -> None:
    for p in result.problems:
        assert p.line >= 1 and p.column >= 1 and p.code.startswith("SB") and p.message


def lint_and_compile(path: Path, build: Path) -> bool:
    """Lint must answer with problems; a storyboard it passes must compile and its
    plan be written. Whether it linted clean (compile lints first, so one with
    errors ends there as InputProblems: nothing more to learn from it)."""
    result = lint_file(path)
    well_formed(result)
    if result.errors:
        return False
    write_plan(compile_storyboard(path), build)
    return True


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "storyboard", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize("seed", ["builtin", "local"])
def test_hostile_strings_in_every_string_position(
    seed: str, kind: str, media: Path, tmp_path: Path
) -> None:
    work = tmp_path / "w"
    if seed == "local":
        local_folder(work, media)
        text = LOCAL
    else:
        work.mkdir()
        text = BUILTIN
    data = json.loads(json.dumps(YAML(typ="safe").load(text)))
    path = work / "storyboard.yaml"
    clean = []
    positions = list(_strings(data))
    assert len(positions) > 25
    for where, _ in positions:
        path.write_text(as_yaml(_with(data, where, HOSTILE[kind])), encoding="ascii")
        try:
            if lint_and_compile(path, tmp_path / "build"):
                clean.append((where, path.read_text(encoding="ascii")))
        except Exception as exc:  # say which position broke it
            raise AssertionError(f"{seed}: {kind} at {where}: {exc!r}") from exc
    if seed != "local":
        return
    assert bool(clean) == (kind != "surrogate"), "a hostile title lints clean, unless no text"
    for i, (where, story) in enumerate(clean[:RENDERED]):
        folder = local_folder(tmp_path / f"render{i}", media)
        (folder / "storyboard.yaml").write_text(story, encoding="ascii")
        cache = str(tmp_path / "cache")
        plan = cli("plan", str(folder / "storyboard.yaml"), "--cache-dir", cache, "--json")
        assert plan.returncode == 0, (where, plan.stderr[-3000:])
        render = cli("render", str(folder / "storyboard.yaml"), "--cache-dir", cache)
        assert render.returncode == 0, (where, render.stderr[-3000:])


# --- random mutations, drawn from a fixed seed ----------------------------------------
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
    *HOSTILE.values(),
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


def _dump(data: Any) -> bytes:
    """The round-trip dump where it can write the value (surrogates as raw bytes, so
    the loader meets them too), else the same data as JSON: never the seed unchanged."""
    buf = io.StringIO()
    try:
        YAML(typ="rt").dump(data, buf)
        return buf.getvalue().encode("utf-8", "surrogatepass")
    except Exception:  # the dumper refuses some values (floats as keys, odd scalars)
        return json.dumps(data, ensure_ascii=True, default=str).encode("ascii")


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
    return origin, _dump(data)


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
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutated())
def test_mutations_never_crash_lint_or_compile(
    case: tuple[Path | None, bytes], tmp_path: Path
) -> None:
    origin, raw = case
    work = _workdir(tmp_path, origin)
    path = work / "storyboard.yaml"
    path.write_bytes(raw)
    lint_and_compile(path, work / "build")


@pytest.mark.parametrize("cut", [0, 17, 90, 250])
def test_truncated_files_through_the_cli(cut: int, tmp_path: Path) -> None:
    path = tmp_path / "storyboard.yaml"
    path.write_text(BUILTIN[:cut], encoding="utf-8")
    result = cli("lint", str(path))
    assert result.returncode in (0, 1), result.stderr
