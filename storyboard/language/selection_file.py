"""Reading `<stem>.takes.yaml`: bounded, positioned, checked by its schema.

The selection file is hand-edited and committed, so it gets the storyboard
loader's care (storyboard/language/load.py): only a regular file, at most
MAX_FILE_BYTES and MAX_YAML_TOKENS, duplicate keys and aliases refused (an
alias bomb never expands), and every problem at its line and column. The
round-trip tree is kept beside the plain data: the writers in `selection`
edit that tree, so comments and key order survive.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from storyboard.bounds import MAX_DEPTH, MAX_FILE_BYTES, MAX_YAML_TOKENS
from storyboard.errors import FileRefused, FileTooLarge
from storyboard.language.load import Document, NodePath
from storyboard.localfile import read_bounded
from storyboard.problems import Pos, Problem, did_you_mean

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "takes.schema.json"
KEY = re.compile(r"[0-9a-f]{64}")
# What the YAML scanner turns into tokens (as load.py counts them): bounded before parsing.
_TOKENISH = re.compile(r"[\[\]{},]|:(?=\s)|-(?=\s)|\n")
NOT_YAML = "SB801"  # unreadable, not YAML, a bomb, duplicate keys (lint/rules/selection.py)
NOT_SCHEMA = "SB802"  # valid YAML that takes.schema.json refuses


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def selection_yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    y.width = 4096  # a 64-hex key and a note stay on their line
    return y


class _Refused(Exception):
    """The parsed tree is not something a selection file may hold."""

    def __init__(self, pos: Pos, message: str) -> None:
        super().__init__(message)
        self.pos = pos


@dataclass
class Read:
    """One read of the file: its round-trip tree (None: missing, or no document in
    it), its text, positions and plain data (`doc`), and what is wrong with it."""

    tree: CommentedMap | None = None
    text: str = ""
    doc: Document | None = None
    problems: list[Problem] = field(default_factory=list)


def read_selection_file(path: Path) -> Read:
    """Read `path` under the loader's bounds; never raises for bad content."""
    here = Pos(str(path))
    if not os.path.lexists(path):
        return Read()
    try:
        raw = read_bounded(path, MAX_FILE_BYTES)
    except FileTooLarge as exc:
        message = f"the file is {exc.size} bytes; a selection file is limited to {MAX_FILE_BYTES}"
        return Read(problems=[Problem.at(here, NOT_YAML, message)])
    except FileRefused as exc:
        return Read(problems=[Problem.at(here, NOT_YAML, f"selection file {exc.reason}")])
    if b"\x00" in raw:
        return Read(problems=[Problem.at(here, NOT_YAML, "binary file (NUL bytes), not YAML")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return Read(problems=[Problem.at(Pos(str(path), line), NOT_YAML, "not valid UTF-8")])
    return parse_selection_text(path, text)


def parse_selection_text(path: Path, text: str) -> Read:
    here = Pos(str(path))
    if len(_TOKENISH.findall(text)) > MAX_YAML_TOKENS:
        message = f"more than {MAX_YAML_TOKENS} YAML tokens (too dense to parse in time)"
        return Read(text=text, problems=[Problem.at(here, NOT_YAML, message)])
    try:
        tree = selection_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Pos(str(path), mark.line + 1, mark.column + 1) if mark else here
        kind = "duplicate key" if "duplicate key" in str(exc.problem) else "YAML syntax error"
        detail = (exc.problem or "").strip()
        message = f"{kind}: {detail}" if detail else kind
        return Read(text=text, problems=[Problem.at(pos, NOT_YAML, message)])
    except RecursionError:
        return Read(text=text, problems=[Problem.at(here, NOT_YAML, "nested too deeply")])
    except (YAMLError, ValueError, TypeError) as exc:
        return Read(text=text, problems=[Problem.at(here, NOT_YAML, f"YAML error: {exc}")])
    if tree is None:  # empty, or only comments: no selection yet
        return Read(text=text)
    start = Pos(str(path), 1, 1)
    if not isinstance(tree, CommentedMap):
        message = "a selection file is a mapping (`version: 1`, `tasks:`)"
        return Read(text=text, problems=[Problem.at(start, NOT_SCHEMA, message)])
    doc = Document(path=path, data={}, values={(): start})
    try:
        doc.data = _plain(tree, (), str(path), doc, set(), 0)
    except _Refused as exc:
        return Read(text=text, problems=[Problem.at(exc.pos, NOT_YAML, str(exc))])
    except RecursionError:
        return Read(text=text, problems=[Problem.at(start, NOT_YAML, "nested too deeply")])
    return Read(tree, text, doc, [*_schema_problems(doc), *_listed_twice(doc)])


def _plain(node: Any, path: NodePath, file: str, doc: Document, seen: set[int], depth: int) -> Any:
    """Plain data and positions of a ruamel tree. A mapping or list met twice is an
    alias: refused, so no alias bomb expands and every node has one place."""
    here = doc.pos(path)
    if isinstance(node, CommentedMap | CommentedSeq):
        if id(node) in seen:
            raise _Refused(
                here,
                "this node is used again through an alias (*name): a selection file has no aliases",
            )
        seen.add(id(node))
        if depth > MAX_DEPTH:
            raise _Refused(here, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for k, v in node.items():
            key = k if isinstance(k, str) else str(k)
            child: NodePath = (*path, key)
            try:
                (kl, kc), (vl, vc) = node.lc.key(k), node.lc.value(k)
                doc.keys[child], doc.values[child] = (
                    Pos(file, kl + 1, kc + 1),
                    Pos(file, vl + 1, vc + 1),
                )
            except (KeyError, TypeError, AttributeError):  # merged in with `<<:`
                doc.keys[child] = doc.values[child] = here
            out[key] = _plain(v, child, file, doc, seen, depth + 1)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, v in enumerate(node):
            try:
                line, col = node.lc.item(i)
                doc.values[(*path, i)] = Pos(file, line + 1, col + 1)
            except (KeyError, IndexError, TypeError):
                doc.values[(*path, i)] = here
            items.append(_plain(v, (*path, i), file, doc, seen, depth + 1))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int | float):
        return int(node) if isinstance(node, int) else float(node)
    text = str(node)
    if not _is_text(text):
        raise _Refused(here, "the text holds a lone surrogate, which is not a character")
    return text


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _where(path: NodePath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the file"


def _schema_problems(doc: Document) -> Iterator[Problem]:
    """One problem per offending node of takes.schema.json, at its line."""
    seen: set[NodePath] = set()
    errors = sorted(_validator().iter_errors(doc.data), key=lambda e: list(map(str, e.path)))
    for error in errors:
        path: NodePath = tuple(error.absolute_path)
        where = _where(path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {}))
            for key in [k for k in error.instance if k not in allowed]:
                hint = did_you_mean(key, allowed) or f"allowed keys: {', '.join(allowed)}"
                if path == () and key == "storyboard":
                    hint = "a selection file is not a storyboard: it holds version and tasks"
                message = f"unknown key {key!r} in {where}"
                yield Problem.at(doc.pos((*path, key), key=True), NOT_SCHEMA, message, hint=hint)
            continue
        if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
            name = error.instance
            message = f"{name!r} is not a task id (a scene id, or scene.N for a part)"
            yield Problem.at(doc.pos((*path, name), key=True), NOT_SCHEMA, message)
            continue
        if path in seen:
            continue
        seen.add(path)
        message, hint = f"{where}: {error.message}", ""
        if error.validator == "pattern" and path[-1:] == ("key",):
            message = f"{where} must be the full 64-hex cache key of the task's request"
            hint = "`storyboard plan` shows each task's cache key"
        elif error.validator == "required":
            message = f"{where} is missing {error.message.split(' is ')[0]}"
        yield Problem.at(doc.pos(path), NOT_SCHEMA, message, hint=hint)


def _listed_twice(doc: Document) -> Iterator[Problem]:
    tasks = doc.data.get("tasks")
    for task, entry in (tasks if isinstance(tasks, dict) else {}).items():
        marks = entry.get("takes") if isinstance(entry, dict) else None
        listed: set[tuple[object, object]] = set()
        for i, mark in enumerate(marks if isinstance(marks, list) else []):
            if not isinstance(mark, dict):
                continue
            ident = (mark.get("take"), mark.get("key"))
            if ident in listed:
                message = f"take {ident[0]} of this version of {task} is listed twice"
                yield Problem.at(doc.pos(("tasks", task, "takes", i)), NOT_SCHEMA, message)
            listed.add(ident)
