"""Hostile files: lint (and compile) end within 1 GiB and 10 s of CPU with exit 1
and a problem at a line, for storyboards, includes and assets that are FIFOs or
/dev/zero, include fan-outs, image bombs, media that do not decode, huge ids."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import Image

from storyboard.bounds import (
    MAX_FILE_BYTES,
    MAX_ID_CHARS,
    MAX_INCLUDE_BYTES,
    MAX_INCLUDE_FILES,
    MAX_YAML_TOKENS,
)
from storyboard.language.schema import STORYBOARD_SCHEMA
from storyboard.lint.engine import lint_file
from tests.conftest import ROOT, make_video, run_bounded

SCENE = "scenes:\n  - {id: a, prompt: x, duration: 5}\n"
# a hang (a FIFO opened for reading) shows as a timeout well before the default
WALL = 60


def story(folder: Path, assets: str, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "storyboard.yaml"
    path.write_text(f"storyboard: 1\n{extra}assets:\n{assets}{SCENE}", encoding="utf-8")
    return path


def refused(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI under the bounds; it must end with exit 1 and no traceback."""
    result = run_bounded(*args, cwd=cwd, wall_seconds=WALL)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return result


# --- PNGs written by hand: any size without allocating its pixels -------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, *, pixels: bool = True) -> bytes:
    """A black 1-bit greyscale PNG (rows compressed one at a time), or its header alone."""
    head = b"\x89PNG\r\n\x1a\n" + _chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    )
    if not pixels:
        return head + _chunk(b"IEND", b"")
    packer = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte, then the packed bits
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return head + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def busy_png(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 400x400 PNG of incompressible pixels (deterministic), so that a cut or a
    flipped byte lands in its image data."""
    path = tmp_path_factory.mktemp("png") / "busy.png"
    noise = hashlib.shake_256(b"storyboard").digest(400 * 400 * 3)
    Image.frombytes("RGB", (400, 400), noise).save(path, format="PNG")
    return path.read_bytes()


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 3 s 1280x720 MP4 that R14 accepts, its index (moov) before its data (mdat),
    so that a cut or a flipped byte leaves a file that still probes."""
    path = tmp_path_factory.mktemp("mp4") / "fast.mp4"
    return make_video(path, size="1280x720", seconds=3, faststart=True).read_bytes()


def flipped(data: bytes, start: int, step: int) -> bytes:
    out = bytearray(data)
    for i in range(start, len(out) - step, step):
        out[i] ^= 0xFF
    return bytes(out)


# --- the storyboard itself ------------------------------------------------------
def test_storyboard_that_is_dev_zero_is_refused(tmp_path: Path) -> None:
    os.symlink("/dev/zero", tmp_path / "zero.yaml")
    result = refused("lint", str(tmp_path / "zero.yaml"))
    assert "zero.yaml:1:1: SB006" in result.stdout and "character device" in result.stdout


def test_storyboard_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    result = refused("lint", str(tmp_path / "pipe.yaml"))
    assert "pipe.yaml:1:1: SB006" in result.stdout and "FIFO" in result.stdout


def test_a_glob_skips_fifos_and_devices(tmp_path: Path) -> None:
    os.symlink("/dev/zero", tmp_path / "a.yaml")
    os.mkfifo(tmp_path / "b.yaml")
    (tmp_path / "c.yaml").write_text(
        "storyboard: 1\nscenes:\n  - {id: a, prompt: x, duration: 0}\n"
    )
    result = refused("lint", str(tmp_path / "*.yaml"))
    assert "c.yaml:3:34: SB100" in result.stdout
    assert "a.yaml" not in result.stdout and "b.yaml" not in result.stdout


# --- includes ----------------------------------------------------------------------
def test_include_that_is_a_fifo_is_refused_at_its_line(tmp_path: Path) -> None:
    # (a symlink to /dev/zero leaves the storyboard's folder: refused as such)
    os.mkfifo(tmp_path / "part.yaml")
    main = tmp_path / "s.yaml"
    main.write_text("storyboard: 1\ninclude: [part.yaml]\n" + SCENE)
    result = refused("lint", str(main))
    assert "s.yaml:2:11: SB006 include 'part.yaml': is a FIFO" in result.stdout


def test_include_fan_out_reads_each_file_once(tmp_path: Path) -> None:
    """10 files at each of 6 levels, each including the 10 of the next: 10**6
    includes if followed, 61 files read once each."""
    for level in range(1, 7):
        below = [f"l{level + 1}_{j}.yaml" for j in range(10)] if level < 6 else []
        for j in range(10):
            (tmp_path / f"l{level}_{j}.yaml").write_text(
                f"vars: {{v{level}_{j}: {level}}}\n"
                + (f"include: {json.dumps(below)}\n" if below else "")
            )
    main = tmp_path / "s.yaml"
    top = json.dumps([f"l1_{j}.yaml" for j in range(10)])
    main.write_text(f"storyboard: 1\ninclude: {top}\n" + SCENE)
    result = run_bounded("lint", str(main), wall_seconds=WALL)
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr[-2000:])
    assert "Traceback" not in result.stderr


def test_a_file_included_twice_is_merged_once(tmp_path: Path) -> None:
    (tmp_path / "shared.yaml").write_text("assets:\n  hero: {element: 7}\n")
    (tmp_path / "b.yaml").write_text("include: [shared.yaml]\n")
    (tmp_path / "c.yaml").write_text("include: [shared.yaml]\n")
    main = tmp_path / "s.yaml"
    main.write_text("storyboard: 1\ninclude: [b.yaml, c.yaml]\n" + SCENE)
    assert lint_file(main).problems == []


def test_include_file_count_is_bounded(tmp_path: Path) -> None:
    count = MAX_INCLUDE_FILES + 5
    for i in range(count):
        (tmp_path / f"p{i}.yaml").write_text(f"vars: {{v{i}: {i}}}\n")
    lines = "".join(f"  - p{i}.yaml\n" for i in range(count))
    main = tmp_path / "s.yaml"
    main.write_text("storyboard: 1\ninclude:\n" + lines + SCENE)
    problems = lint_file(main).problems
    # the storyboard counts as one file: the include at index MAX_INCLUDE_FILES - 1 is refused
    first = MAX_INCLUDE_FILES - 1
    assert [(p.code, p.line) for p in problems] == [("SB006", 3 + i) for i in range(first, count)]
    assert f"at most {MAX_INCLUDE_FILES} files" in problems[0].message


def test_include_bytes_are_bounded_in_total(tmp_path: Path) -> None:
    half = MAX_INCLUDE_BYTES // 2 + 1
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(f"vars: {{{name}: '{'x' * half}'}}\n")
    main = tmp_path / "s.yaml"
    main.write_text("storyboard: 1\ninclude: [a.yaml, b.yaml]\n" + SCENE)
    problems = lint_file(main).problems
    assert [(p.code, p.line, p.column) for p in problems] == [("SB004", 2, 19)]
    assert "its includes are more than" in problems[0].message


# --- image assets ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_image_that_is_a_fifo_or_dev_zero_is_refused(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    if kind == "fifo":
        os.mkfifo(folder / "x.png")
    else:
        os.symlink("/dev/zero", folder / "x.png")
    # asset_root: / lets a symlink lead anywhere, /dev/zero included
    path = story(folder, "  x: {image: x.png}\n", extra="asset_root: /\n")
    result = refused("lint", str(path))
    what = "FIFO" if kind == "fifo" else "character device"
    assert "storyboard.yaml:4:14: SB501" in result.stdout and what in result.stdout
    compiled = refused("compile", str(path))
    assert "storyboard.yaml:4:14: SB501" in compiled.stderr


@pytest.mark.parametrize(
    ("name", "code", "words"),
    [
        ("bomb", "SB504", "pixels in all"),  # 20000x20000: Pillow's own bomb error
        ("huge", "SB504", "12000x12000 px"),  # below Pillow's bound, above ours
        ("truncated", "SB503", "does not decode: image file is truncated"),
        ("header", "SB503", "does not decode"),
        ("flipped", "SB503", "does not decode"),
    ],
)
def test_image_that_the_renderer_cannot_use_is_refused(
    tmp_path: Path, busy_png: bytes, name: str, code: str, words: str
) -> None:
    content = {
        "bomb": lambda: png_bytes(20000, 20000, pixels=False),
        "huge": lambda: png_bytes(12000, 12000),
        "truncated": lambda: busy_png[: len(busy_png) // 2],
        "header": lambda: png_bytes(400, 400, pixels=False),
        "flipped": lambda: flipped(busy_png, 2000, 5000),
    }[name]()
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "x.png").write_bytes(content)
    path = story(folder, "  x: {image: x.png}\n")
    result = refused("lint", str(path))
    assert f"storyboard.yaml:3:14: {code}" in result.stdout and words in result.stdout
    if name == "bomb":
        compiled = refused("compile", str(path))
        assert f"storyboard.yaml:3:14: {code}" in compiled.stderr


# --- video assets ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["truncated", "header", "flipped"])
def test_video_that_does_not_decode_is_refused(tmp_path: Path, mp4: bytes, name: str) -> None:
    data_at = mp4.find(b"mdat")
    content = {
        "truncated": mp4[: len(mp4) // 2],
        "header": mp4[: data_at + 4],
        "flipped": flipped(mp4, data_at + 1000, 3000),
    }[name]
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "v.mp4").write_bytes(content)
    path = story(
        folder, "  v: {video: v.mp4}\n", extra="assets_base_url: https://cdn.example.com/x/\n"
    )
    result = refused("lint", str(path))
    assert "storyboard.yaml:4:14: SB505" in result.stdout and "does not decode" in result.stdout


# --- ids and paths ---------------------------------------------------------------------
def test_a_long_scene_id_is_refused_at_its_line(tmp_path: Path) -> None:
    """A 1 MB id used to lint clean and fail the render with "File name too long";
    the file limit now refuses a megabyte, so the id takes what the file allows."""
    path = tmp_path / "s.yaml"
    long_id = "a" * (MAX_FILE_BYTES - 100)
    path.write_text(f"storyboard: 1\nscenes:\n  - id: {long_id}\n    prompt: x\n    duration: 5\n")
    result = refused("lint", str(path))
    assert "s.yaml:3:9: SB100" in result.stdout
    assert f"at most {MAX_ID_CHARS}" in result.stdout
    assert len(result.stdout) < 1000  # the id is not echoed back


def test_a_long_asset_name_is_refused(tmp_path: Path) -> None:
    path = story(tmp_path, f"  {'h' * (MAX_ID_CHARS + 1)}: {{element: 7}}\n")
    assert [(p.code, p.line) for p in lint_file(path).problems] == [("SB100", 3)]


def test_schema_bounds_ids_as_limits_do() -> None:
    for schema_path in (STORYBOARD_SCHEMA, ROOT / "schemas" / "storyboard.schema.json"):
        defs = json.loads(schema_path.read_text(encoding="utf-8"))["$defs"]
        for name in ("sceneId", "assetName", "identifier"):
            assert defs[name]["maxLength"] == MAX_ID_CHARS, (schema_path, name)


def test_asset_path_with_a_nul_byte_is_a_problem_at_its_line(tmp_path: Path) -> None:
    path = story(tmp_path, '  a: {image: "x\\u0000y.png"}\n')
    result = refused("lint", str(path))
    assert "storyboard.yaml:3:14: SB502" in result.stdout and "NUL byte" in result.stdout


def test_include_with_a_nul_byte_is_a_problem_at_its_line(tmp_path: Path) -> None:
    main = tmp_path / "s.yaml"
    main.write_text('storyboard: 1\ninclude: ["x\\0y.yaml"]\n' + SCENE)
    problems = lint_file(main).problems
    assert [(p.code, p.line, p.column) for p in problems] == [("SB006", 2, 11)]


def test_the_densest_storyboards_lint_within_bounds(tmp_path: Path) -> None:
    """A flow list of `1,` is the most YAML per byte (at the old 2 MiB limit, 17 s of
    CPU). Just under the token bound it lints within 1 GiB and 10 s of CPU; at the
    size limit it is refused before it is parsed, at the place the bound is passed."""
    head = (
        "storyboard: 1\ntitle: Dense\nscenes:\n  - {id: a, prompt: p, duration: 3}\nvars:\n  x: ["
    )
    path = tmp_path / "storyboard.yaml"
    path.write_text(head + "1," * (MAX_YAML_TOKENS - 100) + "1]\n", encoding="utf-8")
    result = run_bounded("lint", str(path))
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    count = (MAX_FILE_BYTES - len(head) - 3) // 2
    path.write_text(head + "1," * count + "1]\n", encoding="utf-8")
    assert path.stat().st_size <= MAX_FILE_BYTES
    result = run_bounded("lint", str(path))
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert f"{path}:6:" in result.stdout and "SB005" in result.stdout
    assert f"more than {MAX_YAML_TOKENS} YAML tokens" in result.stdout
