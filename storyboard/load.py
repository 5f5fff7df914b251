"""Load a storyboard file into plain data plus the position of every node.

The loader is the only place that touches ruamel.yaml. It refuses, with a
positioned problem and quickly, everything that would make later stages
crash or hang: binary or oversized input, syntax errors, duplicate keys, a
document that is not a mapping, deep nesting and alias bombs (aliases are
expanded under a node budget). `include:` files are merged here, keeping
the positions of the file each node came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from storyboard.limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from storyboard.problems import Pos, Problem, Severity

INCLUDABLE_KEYS = ("assets", "vars", "include")

NodePath = tuple[str | int, ...]


@dataclass
class Document:
    """A loaded storyboard: plain data and where each node was written."""

    path: Path
    data: dict[str, Any]
    values: dict[NodePath, Pos] = field(default_factory=dict)
    keys: dict[NodePath, Pos] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def pos(self, path: NodePath, *, key: bool = False) -> Pos:
        """Position of a node's value (or its key), else of its nearest known ancestor."""
        probe = tuple(path)
        if key and probe in self.keys:
            return self.keys[probe]
        while probe:
            if probe in self.values:
                return self.values[probe]
            if probe in self.keys:
                return self.keys[probe]
            probe = probe[:-1]
        return self.values.get((), Pos(str(self.path)))

    def file_of(self, path: NodePath) -> Path:
        """The file a node was written in (matters for relative paths in includes)."""
        return Path(self.pos(path).file)


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0


class _TooBig(Exception):
    """The document expands past the node budget or the depth limit."""

    def __init__(self, pos: Pos, message: str) -> None:
        super().__init__(message)
        self.pos = pos


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def _read_text(path: Path) -> tuple[str | None, Problem | None]:
    here = Pos(str(path))
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, Problem.at(
                here,
                "SB004",
                f"file is {size} bytes; storyboards are limited to {MAX_FILE_BYTES} bytes",
                hint="split it with include:",
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, Problem.at(here, "SB006", "file not found")
    except IsADirectoryError:
        return None, Problem.at(here, "SB006", "is a directory, not a storyboard file")
    except OSError as exc:
        return None, Problem.at(here, "SB006", f"cannot read file: {exc.strerror}")
    if b"\x00" in raw:
        return None, Problem.at(here, "SB004", "binary file (contains NUL bytes), not YAML")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, Problem.at(
            Pos(str(path), line, 1), "SB004", "not valid UTF-8 text", hint="save the file as UTF-8"
        )


def _mark_pos(path: Path, exc: MarkedYAMLError) -> Pos:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return Pos(str(path))
    return Pos(str(path), mark.line + 1, mark.column + 1)


def _parse(path: Path, text: str) -> tuple[Any, Problem | None]:
    try:
        return _yaml().load(text), None
    except MarkedYAMLError as exc:
        kind = "duplicate key" if "duplicate key" in str(exc.problem) else "YAML syntax error"
        code = "SB002" if kind == "duplicate key" else "SB001"
        detail = (exc.problem or "").strip()
        return None, Problem.at(
            _mark_pos(path, exc),
            code,
            f"{kind}: {detail}" if detail else kind,
            hint="each key may appear once in a mapping" if code == "SB002" else "",
        )
    except RecursionError:
        return None, Problem.at(Pos(str(path)), "SB005", "document nested too deeply")
    except (YAMLError, ValueError, TypeError) as exc:
        return None, Problem.at(Pos(str(path)), "SB001", f"YAML error: {exc}")


def _plain(
    node: Any,
    path: NodePath,
    file: str,
    doc: Document,
    budget: _Budget,
    here: Pos,
    depth: int = 0,
) -> Any:
    """Copy a ruamel tree into plain dicts/lists, recording positions under a budget."""
    budget.nodes += 1
    if budget.nodes > MAX_NODES:
        raise _TooBig(here, f"document expands to more than {MAX_NODES} nodes (an alias bomb?)")
    if depth > MAX_DEPTH:
        raise _TooBig(here, f"document nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            key = k if isinstance(k, str | int | bool | float) or k is None else str(k)
            # A YAML key may also be a float or null; jsonschema reports it as it is,
            # so the path keeps it unchanged to find its position again.
            child = cast(NodePath, (*path, key))
            kpos, vpos = _item_positions(node, k, file, here)
            doc.keys[child] = kpos
            doc.values[child] = vpos
            out[key] = _plain(v, child, file, doc, budget, vpos, depth + 1)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, v in enumerate(node):
            child = cast(NodePath, (*path, i))
            try:
                line, col = node.lc.item(i)
                ipos = Pos(file, line + 1, col + 1)
            except (KeyError, IndexError, TypeError):
                ipos = here
            doc.values[child] = ipos
            items.append(_plain(v, child, file, doc, budget, ipos, depth + 1))
        return items
    if isinstance(node, bool | int | float | str) or node is None:
        # ruamel subclasses (ScalarFloat, LiteralScalarString...) become plain types
        if isinstance(node, bool) or node is None:
            return node
        for plain_type in (int, float, str):
            if isinstance(node, plain_type):
                return plain_type(node)
    if isinstance(node, datetime | date):
        return node.isoformat()
    return str(node)


def _item_positions(node: CommentedMap, key: Any, file: str, here: Pos) -> tuple[Pos, Pos]:
    try:
        kl, kc = node.lc.key(key)
        vl, vc = node.lc.value(key)
    except (KeyError, TypeError, AttributeError):
        return here, here  # a key merged in with `<<:` has no position of its own here
    return Pos(file, kl + 1, kc + 1), Pos(file, vl + 1, vc + 1)


def _load_one(path: Path, doc: Document, root_path: NodePath = ()) -> tuple[Any, list[Problem]]:
    text, problem = _read_text(path)
    if problem:
        return None, [problem]
    assert text is not None
    tree, problem = _parse(path, text)
    if problem:
        return None, [problem]
    start = Pos(str(path), 1, 1)
    if isinstance(tree, CommentedMap):
        start = Pos(str(path), tree.lc.line + 1, tree.lc.col + 1)
    try:
        data = _plain(tree, root_path, str(path), doc, _Budget(), start)
    except _TooBig as exc:
        return None, [Problem.at(exc.pos, "SB005", str(exc))]
    except RecursionError:
        return None, [Problem.at(start, "SB005", "document nested too deeply")]
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        return None, [
            Problem.at(
                start,
                "SB003",
                f"a storyboard must be a mapping, this document is {kind}",
                hint="start with `storyboard: 1`",
            )
        ]
    return data, []


def load_document(path: str | Path) -> tuple[Document | None, list[Problem]]:
    """Load `path` and its includes. Returns (document or None, problems)."""
    main = Path(path)
    doc = Document(path=main, data={}, files=[main])
    data, problems = _load_one(main, doc)
    if data is None:
        return None, problems
    doc.data = data
    doc.values.setdefault((), Pos(str(main), 1, 1))
    problems += list(_merge_includes(doc, main, data, seen=(main.resolve(),)))
    return doc, problems


def _merge_includes(
    doc: Document, file: Path, data: dict[str, Any], seen: tuple[Path, ...]
) -> Iterator[Problem]:
    """Merge `include:`d files' assets and vars into the main document.

    Names defined in the including file win over included ones (with a warning);
    an include may not leave the storyboard's folder, nor include itself.
    """
    includes = data.get("include")
    if includes is None:
        return
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        return  # the schema reports the wrong type
    for i, rel in enumerate(includes):
        ipos = doc.pos(("include", i)) if file == doc.path else Pos(str(file))
        if not isinstance(rel, str) or not rel:
            continue
        target = (file.parent / rel).resolve()
        root = doc.path.parent.resolve()
        if not target.is_relative_to(root):
            yield Problem.at(ipos, "SB006", f"include {rel!r} leaves the storyboard's folder")
            continue
        if target in seen:
            yield Problem.at(ipos, "SB006", f"include cycle: {rel!r} is already being included")
            continue
        sub = Document(path=target, data={})
        included, problems = _load_one(target, sub)
        yield from problems
        if included is None:
            continue
        doc.files.append(target)
        for key in included:
            if key not in INCLUDABLE_KEYS:
                yield Problem.at(
                    sub.pos((key,), key=True),
                    "SB006",
                    f"an included file may only define {', '.join(INCLUDABLE_KEYS)}; found {key!r}",
                )
        for section in ("assets", "vars"):
            block = included.get(section)
            if not isinstance(block, dict):
                continue
            mine = doc.data.setdefault(section, {})
            if not isinstance(mine, dict):
                continue
            for name, value in block.items():
                if name in mine:
                    yield Problem.at(
                        sub.pos((section, name), key=True),
                        "SB006",
                        f"{section[:-1]} {name!r} is defined in {doc.pos((section, name)).file} "
                        "too; that definition wins",
                        severity=Severity.WARNING,
                    )
                    continue
                mine[name] = value
                for table in ("values", "keys"):
                    src = getattr(sub, table)
                    dst = getattr(doc, table)
                    for p, pos in src.items():
                        if p[:2] == (section, name):
                            dst[p] = pos
        yield from _merge_includes(doc, target, included, seen=(*seen, target))
