"""The loader: positions, includes, and refusing hostile input quickly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from storyboard.language.load import MAX_FILE_BYTES, load_document
from storyboard.lint.engine import lint_file


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_positions_are_one_based_for_keys_and_values(tmp_path: Path) -> None:
    doc, problems = load_document(
        write(tmp_path / "s.yaml", "storyboard: 1\nscenes:\n  - id: a\n    duration: 5\n")
    )
    assert doc is not None and problems == []
    assert (doc.pos(("scenes", 0, "duration")).line, doc.pos(("scenes", 0, "duration")).column) == (
        4,
        15,
    )
    assert doc.pos(("scenes", 0, "duration"), key=True).column == 5
    # an unknown path falls back to its nearest ancestor
    assert doc.pos(("scenes", 0, "nothing")).line == 3


def test_include_merges_assets_and_keeps_their_file_positions(tmp_path: Path) -> None:
    write(tmp_path / "chars.yaml", "assets:\n  hero: {element: 7}\nvars:\n  mood: calm\n")
    main = write(
        tmp_path / "s.yaml",
        "storyboard: 1\ninclude: [chars.yaml]\nscenes:\n"
        "  - {id: a, prompt: '{{ mood }} <<<hero>>>', duration: 5}\n",
    )
    doc, problems = load_document(main)
    assert doc is not None and problems == []
    assert doc.data["assets"]["hero"] == {"element": 7}
    pos = doc.pos(("assets", "hero"), key=True)
    assert (Path(pos.file).name, pos.line, pos.column) == ("chars.yaml", 2, 3)
    assert lint_file(main).problems == []


def test_include_problems_point_at_the_included_file(tmp_path: Path) -> None:
    write(tmp_path / "chars.yaml", "assets:\n  hero: {element: seven}\n")
    main = write(
        tmp_path / "s.yaml",
        "storyboard: 1\ninclude: [chars.yaml]\nscenes:\n  - {id: a, prompt: x, duration: 5}\n",
    )
    problems = lint_file(main).problems
    assert [(Path(p.file).name, p.line, p.code) for p in problems] == [("chars.yaml", 2, "SB100")]


def test_include_may_not_leave_the_folder_or_loop(tmp_path: Path) -> None:
    write(tmp_path / "a" / "loop.yaml", "include: [loop.yaml]\n")
    main = write(
        tmp_path / "a" / "s.yaml",
        "storyboard: 1\ninclude: [../outside.yaml, loop.yaml]\n"
        "scenes:\n  - {id: a, prompt: x, duration: 5}\n",
    )
    write(tmp_path / "outside.yaml", "vars: {x: 1}\n")
    messages = [p.message for p in lint_file(main).problems]
    assert any("leaves the storyboard's folder" in m for m in messages)
    assert any("include cycle" in m for m in messages)


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["storyboard: 1"]
    lines.append("a0: &a0 [" + ", ".join(["lol"] * 10) + "]")
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = write(tmp_path / "bomb.yaml", "\n".join(lines) + "\n")
    start = time.process_time()  # CPU, not wall time: a busy machine must not fail it
    problems = lint_file(path).problems
    assert time.process_time() - start < 5  # expanded, it would be 10^12 nodes
    assert [p.code for p in problems] == ["SB005"]


def test_binary_oversized_and_non_utf8_input(tmp_path: Path) -> None:
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"storyboard: 1\n\x00\x01\x02")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
    latin = tmp_path / "l.yaml"
    latin.write_bytes(b"storyboard: 1\ntitle: caf\xe9\n")
    assert [p.code for p in lint_file(binary).problems] == ["SB004"]
    assert [p.code for p in lint_file(big).problems] == ["SB004"]
    assert [(p.code, p.line) for p in lint_file(latin).problems] == [("SB004", 2)]


def test_syntax_duplicates_non_mapping_and_deep_nesting(tmp_path: Path) -> None:
    cases = {
        "syntax": ("storyboard: 1\nscenes: [\n", "SB001"),
        "dup": ("storyboard: 1\ntitle: a\ntitle: b\nscenes: []\n", "SB002"),
        "list": ("- 1\n- 2\n", "SB003"),
        "empty": ("", "SB003"),
        "deep": ("storyboard: 1\nx: " + "[" * 200 + "]" * 200 + "\n", "SB005"),
    }
    for name, (text, code) in cases.items():
        problems = lint_file(write(tmp_path / f"{name}.yaml", text)).problems
        assert problems and problems[0].code == code, (name, problems)


def test_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    problems = lint_file(tmp_path / "nope.yaml").problems
    assert [p.code for p in problems] == ["SB006"]


def test_a_lone_surrogate_in_a_key_or_a_value_is_refused_at_its_place(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    scene = "scenes:\n  - {id: a, prompt: x, duration: 5}\n"
    for text, place in (
        ('storyboard: 1\nvars: {"\\udfffk": 1}\n' + scene, (2, 8)),
        ('storyboard: 1\nvars:\n  k: ["ok", "x\\ud800"]\n' + scene, (3, 13)),
    ):
        path.write_text(text, encoding="utf-8")
        doc, problems = load_document(path)
        assert doc is None
        assert [(p.code, p.line, p.column) for p in problems] == [("SB001", *place)]
        assert "lone surrogate" in problems[0].message
    path.write_text('storyboard: 1\ntitle: "\\U0001F4A5 \\ud83d\\udca5"\n' + scene, "utf-8")
    doc, problems = load_document(path)  # a pair written as two escapes is one character
    assert doc is not None and not problems and doc.data["title"] == "💥 💥"


# The usual mistakes, each said in words a newcomer knows, where it was made:
# (text, line, column, words the message holds, words the hint holds).
SCENE = "storyboard: 1\nscenes:\n  - id: a\n"
MISTAKES = {
    "indented too far": (
        SCENE + "      prompt: x\n",
        (4, 7, "indented more than the key above it expects", "line it up with `id:` on line 3"),
    ),
    "indented too far under a value": (
        "storyboard: 1\ntitle: x\n  author: y\n",
        (3, 3, "indented more than the key above it expects", "`title:` on line 2 (column 1)"),
    ),
    "indented too little": (
        SCENE + "    prompt: x\n   duration: 5\n",
        (5, 4, "lines up with no key", "line it up with `prompt:` on line 4 (column 5)"),
    ),
    "tab": (SCENE + "\tprompt: x\n", (4, 1, "a tab character cannot indent YAML", "spaces")),
    "no space after colon": (
        SCENE + "    prompt:x\n    duration: 5\n",
        (4, 11, "a `:` needs a space after it", "write `prompt: x`"),
    ),
    "unclosed bracket": (
        SCENE + "    images: [a, b\n    prompt: x\n",
        (4, 13, "this `[` is never closed", "close it with `]`"),
    ),
    "unclosed brace": (
        "storyboard: 1\nscenes:\n  - {id: a, prompt: x\n  - {id: b, prompt: y}\n",
        (3, 5, "this `{` is never closed", "close it with `}`"),
    ),
    "unclosed quote at the end": (
        SCENE + '    prompt: "a quiet street\n    duration: 5\n',
        (4, 13, "this quoted string is never closed", 'end it with "'),
    ),
    "unclosed quote closed by a later one": (
        SCENE + "    prompt: 'a quiet street\n    duration: 5\n  - id: b\n    prompt: 'rain'\n",
        (4, 13, "this quoted string is never closed", "runs on to line 7"),
    ),
    "unclosed quote in a flow mapping": (
        'storyboard: 1\nscenes:\n  - {id: a, prompt: "rain, duration: 5}\n',
        (3, 21, "this quoted string is never closed", 'end it with "'),
    ),
    "second colon in a value": (
        "storyboard: 1\ntitle: Act one: the storm\n",
        (2, 15, "a `:` inside an unquoted value: quote the value", 'title: "Act one: the storm"'),
    ),
    "list item where a key belongs": (
        SCENE + "    - prompt: x\n",
        (4, 5, "a list item `- ` where a mapping key was expected", "remove the `- `"),
    ),
    "list item at the wrong level": (
        "storyboard: 1\nscenes:\n- id: a\n  prompt: x\n  - id: b\n",
        (5, 3, "a list item `- ` where a mapping key was expected", "line it up"),
    ),
    "a list item indented past its list's items": (
        SCENE + "    prompt: x\n   - id: b\n",
        (5, 4, "not lined up with the items of its list", "the `- ` on line 3 (column 3)"),
    ),
    "text after a quoted string": (
        'storyboard: 1\ntitle: "The storm" at sea\n',
        (2, 20, "text after a quoted string", "put the whole value in quotes"),
    ),
    "an apostrophe ends a single-quoted string": (
        SCENE + "    prompt: 'it's raining'\n",
        (4, 17, "text after a quoted string", "written ''"),
    ),
    "a value starting with a reserved character": (
        "storyboard: 1\ntitle: @home\n",
        (2, 8, "a value cannot start with `@` unless it is quoted", "write the value in quotes"),
    ),
    "a list item after a key on its line": (
        SCENE + "    images: - a\n",
        (4, 13, "a list item `- ` cannot follow a key on its line", "start the list on the next"),
    ),
}
JARGON = (
    "<block end>",
    "<block mapping start>",
    "scalar",
    "token",
    "but found",
    "while pars",
    "while scan",
)


@pytest.mark.parametrize("name", list(MISTAKES))
def test_a_syntax_error_is_said_in_plain_words_where_it_was_made(name: str, tmp_path: Path) -> None:
    text, (line, column, said, hint) = MISTAKES[name]
    doc, problems = load_document(write(tmp_path / "s.yaml", text))
    assert doc is None
    assert [(p.code, p.line, p.column) for p in problems] == [("SB001", line, column)], problems
    (p,) = problems
    assert said in p.message and hint in p.hint, (p.message, p.hint)
    for word in JARGON:
        assert word not in p.message.lower() and word not in p.hint.lower(), (word, p)


def test_a_syntax_error_through_the_cli_names_the_place_and_no_parser_words(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "s.yaml", SCENE + '    prompt: "rain\n    duration: 5\n')
    result = subprocess.run(
        [sys.executable, "-m", "storyboard", "lint", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{path}:4:13: SB001 YAML syntax error: this quoted string is never closed" in (
        result.stdout
    )
