"""docs/language.md documents exactly the keys of the storyboard schema, each with
its type, default, API rule and a YAML example that parses; its full storyboards
lint clean."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from ruamel.yaml import YAML

from storyboard.language.schema import STORYBOARD_SCHEMA, schema_id
from storyboard.lint.engine import lint_file
from storyboard.media import run_ffmpeg
from tests.conftest import ROOT

PAGE = ROOT / "docs" / "language.md"
KEY_HEADING = re.compile(r"^#{2,4} `([^`]+)`$", re.M)
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```$", re.S | re.M)
LOCAL_MEDIA = re.compile(r"\bassets/[\w.-]+\.(?:png|jpg|mp3)\b")


def key_paths(schema: dict[str, Any]) -> list[str]:
    """Every key a storyboard may hold, as a path: `scenes[].shots[].prompt` for a
    list's items, `assets.<name>.image` under a mapping of names the author picks.
    `$ref`s are followed and every branch of `oneOf`/`anyOf`/`allOf`/`then` taken, so
    a key that only one form allows (`element.kind`) is found too."""
    defs: dict[str, Any] = schema.get("$defs", {})
    found: dict[str, None] = {}

    def walk(node: Any, prefix: str, seen: frozenset[str]) -> None:
        while isinstance(node, dict) and "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            if name in seen:  # a recursive definition adds no new key
                return
            seen = seen | {name}
            node = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
        if not isinstance(node, dict):
            return
        for name, sub in node.get("properties", {}).items():
            path = f"{prefix}.{name}" if prefix else name
            found[path] = None
            walk(sub, path, seen)
        if isinstance(node.get("additionalProperties"), dict):
            found[f"{prefix}.<name>"] = None
            walk(node["additionalProperties"], f"{prefix}.<name>", seen)
        if "items" in node:
            walk(node["items"], f"{prefix}[]", seen)
        for branch in (*node.get("oneOf", ()), *node.get("anyOf", ()), *node.get("allOf", ())):
            walk(branch, prefix, seen)
        if "then" in node:
            walk(node["then"], prefix, seen)

    walk(schema, "", frozenset())
    return list(found)


def sections(page: str) -> Iterator[tuple[str, str]]:
    """Each documented key with the text of its section (up to the next heading)."""
    heads = list(re.finditer(r"^#{2,4} .*$", page, re.M))
    for i, head in enumerate(heads):
        key = KEY_HEADING.match(head.group(0))
        if key:
            end = heads[i + 1].start() if i + 1 < len(heads) else len(page)
            yield key.group(1), page[head.end() : end]


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(STORYBOARD_SCHEMA.read_text(encoding="utf-8"))
    return loaded


def test_the_walk_finds_nested_keys(schema: dict[str, Any]) -> None:
    """The walk itself reaches keys behind $ref, lists, names and oneOf forms."""
    paths = key_paths(schema)
    for path in (
        "defaults.mode",
        "assets.<name>.element.kind",
        "scenes[].shots[].prompt",
        "scenes[].first_frame.from",
        "cut[].transition.duration",
        "film.loudness",
    ):
        assert path in paths


def test_every_key_of_the_schema_is_on_the_page_and_no_other(
    page: str, schema: dict[str, Any]
) -> None:
    documented = [key for key, _ in sections(page)]
    assert len(documented) == len(set(documented)), "a key is documented twice"
    keys = key_paths(schema)
    missing = [k for k in keys if k not in documented]
    gone = [k for k in documented if k not in keys]
    assert not missing, f"docs/language.md lacks a section for: {', '.join(missing)}"
    assert not gone, f"docs/language.md documents keys the schema no longer has: {gone}"


def test_every_key_says_its_type_default_api_rule_and_shows_an_example(page: str) -> None:
    for key, text in sections(page):
        for label in ("**Type**", "**Default**", "**API**"):
            assert label in text, f"{key}: no {label}"
        leaf = key.rsplit(".", 1)[-1].removesuffix("[]").split("[]")[-1].lstrip(".")
        blocks = YAML_BLOCK.findall(text)
        assert blocks, f"{key}: no YAML example"
        assert any(leaf in block for block in blocks) or leaf == "<name>", key


def test_every_yaml_example_parses(page: str) -> None:
    blocks = YAML_BLOCK.findall(page)
    assert len(blocks) > 70
    for block in blocks:
        YAML(typ="safe").load(block)  # raises on a broken example


def _make_media(folder: Path, text: str) -> None:
    """The local files a full example names: pictures within R9, a short tone."""
    for name in sorted(set(LOCAL_MEDIA.findall(text))):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".mp3"):
            run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=2", str(path)])
        else:
            Image.new("RGB", (640, 360), (90, 120, 160)).save(path)


def _keys(block: str) -> set[str]:
    loaded = YAML(typ="safe").load(block)
    return set(loaded) if isinstance(loaded, dict) else set()


def test_the_full_examples_lint_clean(page: str, tmp_path: Path) -> None:
    full = [b for b in YAML_BLOCK.findall(page) if {"storyboard", "scenes"} <= _keys(b)]
    assert len(full) >= 2  # the opening one and the larger one
    for i, block in enumerate(full):
        folder = tmp_path / f"example{i}"
        folder.mkdir()
        _make_media(folder, block)
        story = folder / "storyboard.yaml"
        story.write_text(block, encoding="utf-8")
        # Clean even with --strict; a note (the split the example shows) is no problem.
        problems = [p for p in lint_file(story).problems if p.fails(strict=True)]
        assert problems == [], f"example {i} of docs/language.md: {problems}"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation but `-` and `_`
    dropped, spaces as hyphens."""
    text = heading.lstrip("#").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_no_file_points_at_a_design_md_the_repository_lacks() -> None:
    """Issue 13, point 1: the examples and the provider pointed at DESIGN.md."""
    files = [*sorted((ROOT / "examples").rglob("*.yaml")), ROOT / "examples" / "README.md"]
    files += sorted((ROOT / "storyboard" / "provider").glob("*.py"))
    pointing = [str(f.relative_to(ROOT)) for f in files if "DESIGN" in f.read_text("utf-8")]
    assert not pointing, f"these point at DESIGN.md, not in the repository: {pointing}"


def test_links_into_the_docs_name_headings_that_exist(page: str) -> None:
    anchors = {github_anchor(h) for h in re.findall(r"^#{1,4} .*$", page, re.M)}
    linking = {
        ROOT / "examples" / "README.md": r"\]\(\.\./docs/language\.md#([\w-]+)\)",
        PAGE: r"\]\(#([\w-]+)\)",
    }
    for file, link in linking.items():
        targets = re.findall(link, file.read_text(encoding="utf-8"))
        assert targets, file
        broken = sorted(set(targets) - anchors)
        assert not broken, f"{file.relative_to(ROOT)} links to missing sections: {broken}"


SCHEMA_URL = "https://storyboard.dev/schemas/storyboard.schema.json"


def test_the_schema_keeps_its_stable_id_and_one_text(page: str, schema: dict[str, Any]) -> None:
    """The `$id` is what editors are told (the first-line comment `init` writes, the
    page's opening example, a VS Code `yaml.schemas` setting): changing it would
    unhook every storyboard already written, so it is pinned here. The copy shipped
    in the package is the repository's schema, byte for byte."""
    assert schema["$id"] == SCHEMA_URL == schema_id()
    shipped = ROOT / "storyboard" / "schemas" / "storyboard.schema.json"
    assert shipped.read_bytes() == (ROOT / "schemas" / "storyboard.schema.json").read_bytes()
    assert f"# yaml-language-server: $schema={SCHEMA_URL}\n" in page
