"""YAML syntax errors said in plain words, at the place the mistake was made.

ruamel speaks parser ("expected <block end>, but found '<block mapping
start>'") and points where the parser gave up, which for an unclosed quote is
the end of the file. A newcomer needs the mistake named where it was made:
the line indented one space too far, the tab, the `:` with no space after it,
the `[` never closed, the quote never closed (at its opening quote), the
second `:` in an unquoted value, the `- ` where a key belongs, the text after
a quoted string. `explain` reads ruamel's error and the text and says which;
anything it does not recognise still gets a plain message at ruamel's place.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.tokens import ScalarToken


@dataclass(frozen=True)
class Said:
    """A syntax error in words: 1-based line and column, message and hint."""

    line: int
    column: int
    message: str
    hint: str


QUOTES = {'"': 'a " inside the text is written \\"', "'": "a ' inside the text is written ''"}
CLOSERS = {"[": "]", "{": "}"}
_KEY = re.compile(r"^(?P<lead>[ ]*(?:-[ ]+)*)(?P<key>[^\s:#][^:#]*?):(?:[ ]|$)")


def explain(text: str, exc: MarkedYAMLError) -> Said:
    """What went wrong, where it was written, and what to do about it."""
    lines = text.splitlines()
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line, mark.column) if mark is not None else (0, 0)
    start = exc.context_mark
    if "quoted scalar" in context and start is not None:
        return _unclosed_quote(lines, start.line, start.column)
    if "'\\t'" in problem:
        return Said(
            line + 1,
            col + 1,
            "a tab character cannot indent YAML",
            "indent with spaces (two per level), and set your editor to insert spaces for Tab",
        )
    reserved = re.search(r"found character '(.)' that cannot start", problem)
    if reserved or context in ("while scanning an anchor", "while scanning an alias"):
        char = reserved.group(1) if reserved else _char(lines, line, col) or "&"
        return Said(
            line + 1,
            col + 1,
            f"a value cannot start with `{char}` unless it is quoted",
            f'write the value in quotes: "{char}..." (YAML keeps `{char}` for itself)',
        )
    if problem == "sequence entries are not allowed here":
        return Said(
            line + 1,
            col + 1,
            "a list item `- ` cannot follow a key on its line",
            "start the list on the next line, each `- ` item indented under the key, "
            "or write it as [a, b]",
        )
    stray = re.search(r"found '([\]}])'", problem)
    if stray:
        return Said(
            line + 1,
            col + 1,
            f"a `{stray.group(1)}` that closes nothing",
            f"remove it, or open it with `{'[' if stray.group(1) == ']' else '{'}` before",
        )
    if problem == "mapping values are not allowed here":
        return _colon_in_value(lines, line, col) or _indented_too_far(lines, line)
    if "could not find expected ':'" in problem and start is not None:
        return _no_space_after_colon(lines, start.line, start.column)
    if "found '-'" in problem:
        return Said(
            line + 1,
            col + 1,
            "a list item `- ` where a mapping key was expected",
            "an item belongs in a list under a key (as under `scenes:`): line it up with the "
            "other items of that list, or remove the `- ` to make it a key",
        )
    if "'<block mapping start>'" in problem:
        return _indented_between(lines, line, col)
    if "'<block sequence start>'" in problem:
        return _item_misaligned(lines, line, col)
    if "'<scalar>'" in problem:
        after = _after_quote(text, line, col)
        if after is not None:
            return after
    if "flow" in context and start is not None:
        return _unclosed_bracket(lines, start.line, start.column)
    return Said(
        line + 1,
        col + 1,
        "this line does not fit the lines above it",
        "check the indentation and the punctuation (`:`, `- `, quotes, brackets) "
        "here and on the line above",
    )


def _unclosed_quote(lines: list[str], line: int, col: int) -> Said:
    quote = _char(lines, line, col)
    quote = quote if quote in QUOTES else '"'
    return Said(
        line + 1,
        col + 1,
        "this quoted string is never closed",
        f"end it with {quote} on the line it starts; {QUOTES[quote]}",
    )


def _colon_in_value(lines: list[str], line: int, col: int) -> Said | None:
    """`key: value: more`: a second `: ` in a value that is not quoted."""
    text = lines[line] if line < len(lines) else ""
    found = _KEY.match(text)
    if found is None or found.end() > col:
        return None
    key, value = found.group("key"), text[found.end() :].strip()
    quoted = value.replace('"', '\\"')
    return Said(
        line + 1,
        col + 1,
        "a `:` inside an unquoted value: quote the value",
        f'a `: ` starts a key, so write the whole value in quotes: {key}: "{quoted}"',
    )


def _indented_too_far(lines: list[str], line: int) -> Said:
    text = lines[line] if line < len(lines) else ""
    col = len(text) - len(text.lstrip(" "))
    above = _key_above(lines, line)
    hint = "line it up with the key above it"
    if above is not None:
        key, key_col, key_line = above
        hint = (
            f"line it up with `{key}:` on line {key_line + 1} (column {key_col + 1}); "
            "a key indented further belongs to a key above with no value of its own"
        )
    return Said(line + 1, col + 1, "this line is indented more than the key above it expects", hint)


def _indented_between(lines: list[str], line: int, col: int) -> Said:
    above = _key_above(lines, line)
    hint = "indent it exactly as far as the key it belongs with"
    if above is not None:
        key, key_col, key_line = above
        hint = f"line it up with `{key}:` on line {key_line + 1} (column {key_col + 1})"
    return Said(
        line + 1,
        col + 1,
        "this line is indented less than the key above it but more than its parent: "
        "it lines up with no key",
        hint,
    )


def _item_misaligned(lines: list[str], line: int, col: int) -> Said:
    """A `- ` item indented other than the items of the list above it."""
    hint = "line up every `- ` of one list in the same column"
    for number in range(line - 1, -1, -1):
        text = lines[number]
        stripped = text.lstrip(" ")
        if stripped.startswith("- ") or stripped == "-":
            item_col = len(text) - len(stripped)
            hint = (
                f"line it up with the `- ` on line {number + 1} (column {item_col + 1}), "
                "the list's item before it"
            )
            break
    return Said(
        line + 1,
        col + 1,
        "this list item `- ` is not lined up with the items of its list",
        hint,
    )


def _no_space_after_colon(lines: list[str], line: int, col: int) -> Said:
    text = lines[line] if line < len(lines) else ""
    glued = re.search(r":(?=[^\s])", text[col:])
    if glued is None:
        return Said(line + 1, col + 1, "this line is not `key: value`", "write it as `key: value`")
    at = col + glued.start()
    key, value = text[col:at].strip(), text[at + 1 :].strip()
    return Said(
        line + 1,
        at + 1,
        "a `:` needs a space after it to separate a key from its value",
        f"write `{key}: {value}`",
    )


def _unclosed_bracket(lines: list[str], line: int, col: int) -> Said:
    opener = _char(lines, line, col)
    if opener not in CLOSERS:
        opener = "{"
    closer = CLOSERS[opener]
    return Said(
        line + 1,
        col + 1,
        f"this `{opener}` is never closed",
        f"close it with `{closer}` on the same line, after its last item"
        f" (items are separated by `, `)",
    )


def _after_quote(text: str, line: int, col: int) -> Said | None:
    """Text right after a quoted string: either the string was never closed (its
    quote was closed by the next quote, lines further on), or there is more text
    after the closing quote than the quotes hold."""
    quoted = _quoted_before(text, line, col)
    if quoted is None:
        return None
    if quoted.start_mark.line < quoted.end_mark.line:
        lines = text.splitlines()
        said = _unclosed_quote(lines, quoted.start_mark.line, quoted.start_mark.column)
        until = quoted.end_mark.line + 1
        return Said(
            said.line, said.column, said.message, f"{said.hint} (it runs on to line {until})"
        )
    quote = quoted.style if quoted.style in QUOTES else '"'
    return Said(
        line + 1,
        col + 1,
        "text after a quoted string: the quotes must hold the whole value",
        f"put the whole value in quotes; {QUOTES[quote]}",
    )


def _quoted_before(text: str, line: int, col: int) -> ScalarToken | None:
    """The quoted string that ends just before (line, col), by the scanner's own tokens."""
    last: ScalarToken | None = None
    # The scanner stops at the same mistake; the tokens before it suffice.
    with contextlib.suppress(YAMLError):
        for token in YAML(typ="rt").scan(text):
            if (token.start_mark.line, token.start_mark.column) >= (line, col):
                break
            last = token if isinstance(token, ScalarToken) else None
    if last is None or last.style not in QUOTES:
        return None
    return last


def _key_above(lines: list[str], line: int) -> tuple[str, int, int] | None:
    """The nearest key above `line`: its name, column (0-based) and line."""
    for number in range(line - 1, -1, -1):
        found = _KEY.match(lines[number])
        if found is not None:
            return found.group("key").strip(), len(found.group("lead")), number
    return None


def _char(lines: list[str], line: int, col: int) -> str:
    return lines[line][col] if line < len(lines) and col < len(lines[line]) else ""
