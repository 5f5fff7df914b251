"""Load a storyboard file into plain data plus the position of every node.

The loader is the only place that touches ruamel.yaml. It refuses, with a
positioned problem and quickly, everything that would make later stages
crash or hang: anything but a regular file (a FIFO, /dev/zero), binary or
oversized input, syntax errors (said in plain words, where the mistake was
made: `syntax`), duplicate keys, lone surrogates (text no UTF-8 file can
hold), a document that is not a mapping, deep nesting and alias bombs
(aliases are expanded under a node budget). `include:` files are merged
here, keeping the positions of the file each node came from, under one
budget of nodes, files and bytes for the whole storyboard.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from storyboard.bounds import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_INCLUDE_BYTES,
    MAX_INCLUDE_FILES,
    MAX_NODES,
    MAX_YAML_TOKENS,
)
from storyboard.errors import FileRefused, FileTooLarge
from storyboard.language.syntax import explain
from storyboard.localfile import read_bounded
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


@dataclass
class _Budget:
    """The work one storyboard may cost, its includes included: YAML nodes, files
    and bytes read. A file included twice is read and merged once (`merged`)."""

    nodes: int = 0
    files: int = 0
    bytes: int = 0
    merged: set[Path] = field(default_factory=set)


class _TooBig(Exception):
    """The document expands past the node budget or the depth limit."""

    def __init__(self, pos: Pos, message: str) -> None:
        super().__init__(message)
        self.pos = pos


class _NotText(Exception):
    """A string holds a lone surrogate (a YAML escape such as "\\ud800"): not a
    character, so no UTF-8 file, plan or JSON request can carry it."""

    def __init__(self, pos: Pos, code_point: int) -> None:
        super().__init__(
            f"the text holds a lone surrogate (\\u{code_point:04x}), which is not a character"
        )
        self.pos = pos


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: str, pos: Pos) -> str:
    """`value` with each surrogate pair (two escapes, as JSON writes a character past
    U+FFFF) made the one character it means; a lone surrogate is refused."""
    if not _SURROGATE.search(value):
        return value
    joined = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    lone = _SURROGATE.search(joined)
    if lone:
        raise _NotText(pos, ord(lone.group()))
    return joined


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def _read_text(
    path: Path, budget: _Budget, here: Pos, label: str
) -> tuple[str | None, Problem | None]:
    """The text of one file, read under the budget; a refusal is reported at `here`
    (the file itself, or the `include:` entry that names it, then `label` names it)."""
    if budget.files >= MAX_INCLUDE_FILES:
        return None, Problem.at(
            here,
            "SB006",
            f"{label}a storyboard reads at most {MAX_INCLUDE_FILES} files, its includes included",
        )
    left = MAX_INCLUDE_BYTES - budget.bytes
    try:
        raw = read_bounded(path, min(MAX_FILE_BYTES, left))
    except FileTooLarge as exc:
        if exc.size > MAX_FILE_BYTES:
            limit = MAX_FILE_BYTES
            message = f"{label}file is {exc.size} bytes; storyboards are limited to {limit} bytes"
            return None, Problem.at(here, "SB004", message)
        message = f"{label}the storyboard and its includes are more than {MAX_INCLUDE_BYTES} bytes"
        return None, Problem.at(here, "SB004", message)
    except FileRefused as exc:
        return None, Problem.at(here, "SB006", f"{label}{exc.reason}")
    budget.files += 1
    budget.bytes += len(raw)
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


# What the YAML scanner turns into tokens: flow indicators, `key: `, `- ` and line
# breaks. The parser's time goes by tokens (about 120 µs each in pure-Python
# ruamel), so their count is bounded before a byte is parsed.
_TOKENISH = re.compile(r"[\[\]{},]|:(?=\s)|-(?=\s)|\n")


def _too_dense(path: Path, text: str) -> Problem | None:
    """A problem at the place where the text passes MAX_YAML_TOKENS, if it does."""
    for count, match in enumerate(_TOKENISH.finditer(text), start=1):
        if count > MAX_YAML_TOKENS:
            line = text.count("\n", 0, match.start()) + 1
            column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
            return Problem.at(
                Pos(str(path), line, column),
                "SB005",
                f"more than {MAX_YAML_TOKENS} YAML tokens in one file (too dense to parse in time)",
                hint="split the storyboard, or write long lists of values in fewer items",
            )
    return None


def _parse(path: Path, text: str) -> tuple[Any, Problem | None]:
    dense = _too_dense(path, text)
    if dense is not None:
        return None, dense
    try:
        return _yaml().load(text), None
    except MarkedYAMLError as exc:
        if "duplicate key" in str(exc.problem):
            detail = (exc.problem or "").strip()
            return None, Problem.at(
                _mark_pos(path, exc),
                "SB002",
                f"duplicate key: {detail}",
                hint="each key may appear once in a mapping",
            )
        said = explain(text, exc)  # in plain words, where the mistake was made
        return None, Problem.at(
            Pos(str(path), said.line, said.column),
            "SB001",
            f"YAML syntax error: {said.message}",
            hint=said.hint,
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
            kpos, vpos = _item_positions(node, k, file, here)
            if isinstance(key, str):
                key = _text(key, kpos)
            child = cast(NodePath, (*path, key))
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
        if isinstance(node, str):
            return _text(str(node), here)
        for plain_type in (int, float):
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


def _load_one(
    path: Path, doc: Document, budget: _Budget, here: Pos, label: str = ""
) -> tuple[Any, list[Problem]]:
    text, problem = _read_text(path, budget, here, label)
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
        data = _plain(tree, (), str(path), doc, budget, start)
    except _TooBig as exc:
        return None, [Problem.at(exc.pos, "SB005", str(exc))]
    except _NotText as exc:
        hint = "write the character itself, or a surrogate pair as one \\U escape"
        return None, [Problem.at(exc.pos, "SB001", str(exc), hint=hint)]
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
    budget = _Budget()
    data, problems = _load_one(main, doc, budget, Pos(str(main)))
    if data is None:
        return None, problems
    doc.data = data
    doc.values.setdefault((), Pos(str(main), 1, 1))
    chain = (main.resolve(),)
    budget.merged.add(chain[0])
    problems += list(_merge_includes(doc, doc, data, budget, chain))
    return doc, problems


def _merge_includes(
    doc: Document,
    owner: Document,
    data: dict[str, Any],
    budget: _Budget,
    chain: tuple[Path, ...],
) -> Iterator[Problem]:
    """Merge the assets and vars of the files `owner` includes into the main document.

    Names defined in the including file win over included ones (with a warning);
    an include may not leave the storyboard's folder, nor include itself. A file
    already merged (included twice) is not read again: a fan-out of includes
    costs each file once, and the budget bounds the files and bytes read.
    """
    includes = data.get("include")
    if includes is None:
        return
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        return  # the schema reports the wrong type
    file = owner.path
    for i, rel in enumerate(includes):
        ipos = owner.pos(("include", i))
        if not isinstance(rel, str) or not rel:
            continue
        try:
            target = (file.parent / rel).resolve()
        except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte, a symlink loop
            yield Problem.at(ipos, "SB006", f"include {rel!r} cannot be resolved: {exc}")
            continue
        root = doc.path.parent.resolve()
        if not target.is_relative_to(root):
            yield Problem.at(ipos, "SB006", f"include {rel!r} leaves the storyboard's folder")
            continue
        if target in chain:
            yield Problem.at(ipos, "SB006", f"include cycle: {rel!r} is already being included")
            continue
        if target in budget.merged:
            continue
        budget.merged.add(target)
        sub = Document(path=target, data={})
        included, problems = _load_one(target, sub, budget, ipos, f"include {rel!r}: ")
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
        yield from _merge_includes(doc, sub, included, budget, (*chain, target))
