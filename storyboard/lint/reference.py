"""The rule reference: every lint rule, its examples, and what lint says about them.

`docs/rules.md` is this module's output (`python -m storyboard.lint.reference >
docs/rules.md`) and `storyboard explain CODE` prints one rule of it, so the page,
the command and the registry cannot drift apart: a test compares the page with
`markdown_page()`. The message shown for each failing example is not written by
hand: the example is linted in a scratch folder (with the small media files the
examples name, made here) and the problem it raises is printed as `lint` prints it.

The selection file's rules (SB8xx) are linted as a `<stem>.takes.yaml` beside the
storyboard `selection.STORY`, with `{key}` standing for the task's cache key.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from storyboard.lint.rules import Rule, all_rules
from storyboard.lint.rules import selection as selection_rules

REGENERATE = "python -m storyboard.lint.reference > docs/rules.md"
STORY_NAME = "storyboard.yaml"
TAKES_NAME = "storyboard.takes.yaml"


def registry() -> dict[str, Rule]:
    """Every rule a lint can report, by code in code order: the storyboard's
    rules (`all_rules`) and the selection file's."""
    rules = {**all_rules(), **selection_rules.RULES}
    return {code: rules[code] for code in sorted(rules)}


def is_selection_rule(rule: Rule) -> bool:
    """Whether `rule`'s examples are a selection file rather than a storyboard."""
    return rule.code in selection_rules.RULES


# --- the media the examples name ---------------------------------------------------
def _png(size: tuple[int, int]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        from PIL import Image

        Image.new("RGB", size, (40, 90, 160)).save(path, format="PNG")

    return make


def _mp4(size: str, seconds: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        from storyboard.media import run_ffmpeg

        source = f"testsrc2=size={size}:rate=24:duration={seconds}"
        codec = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        run_ffmpeg(["-f", "lavfi", "-i", source, *codec, str(path)])

    return make


def _text(path: Path) -> None:
    path.write_text("not an image\n", encoding="utf-8")


# File name in an example -> how to make it. The same files as the tests' `media_dir`
# fixture: the messages below quote their sizes. Only those an example names are made.
EXAMPLE_MEDIA: dict[str, Callable[[Path], None]] = {
    "small.png": _png((100, 100)),
    "big.png": _png((400, 400)),
    "assets/keeper.png": _png((400, 300)),
    "notes.txt.png": _text,
    "short.mp4": _mp4("320x240", 1),
    "clip.mp4": _mp4("1280x720", 3),
}


def make_media(folder: Path, texts: Iterable[str]) -> None:
    """Write into `folder` the example media that any of `texts` names."""
    named = " ".join(texts)
    for name, make in EXAMPLE_MEDIA.items():
        if name in named and not (folder / name).exists():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            make(folder / name)


# --- what lint prints ----------------------------------------------------------------
@dataclass(frozen=True)
class Printed:
    """What lint prints for a rule's failing example (text format), and where."""

    text: str  # "storyboard.yaml:3:19: SB504 [R9] ...", with its hint line if any
    line: int
    column: int


def lint_failing_example(rule: Rule, folder: Path | None = None) -> Printed | None:
    """Lint `rule`'s failing example and return the first problem of its code as
    `storyboard lint` prints it, with the scratch folder's path taken out; None
    when the example does not raise it (the registry's tests catch that)."""
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="storyboard-rule-") as scratch:
            return lint_failing_example(rule, Path(scratch))
    from storyboard.lint.engine import lint_file
    from storyboard.lint.formatters.text import format_problem

    work = (folder / rule.code.lower()).resolve()
    work.mkdir(parents=True, exist_ok=True)
    make_media(work, [rule.fail])
    story = work / STORY_NAME
    if is_selection_rule(rule):
        story.write_text(selection_rules.STORY, encoding="utf-8")
        key = _cache_key(story)
        (work / TAKES_NAME).write_text(rule.fail.replace("{key}", key), encoding="utf-8")
    else:
        story.write_text(rule.fail, encoding="utf-8")
    problems = lint_file(story, check_urls=rule.code == "SB507").problems
    hits = [p for p in problems if p.code == rule.code]
    if not hits:
        return None
    hit = hits[0]
    where = Path(hit.file)
    shown = where.relative_to(work).as_posix() if where.is_relative_to(work) else hit.file
    hit = dataclasses.replace(
        hit,
        file=shown,
        message=hit.message.replace(f"{work}/", "").replace(str(work), "."),
        hint=hit.hint.replace(f"{work}/", "").replace(str(work), "."),
    )
    return Printed(format_problem(hit), hit.line, hit.column)


def _cache_key(story: Path) -> str:
    """The cache key of task `a` of the selection rules' storyboard, as lint judges it."""
    from storyboard.compile.compiler import compile_specs
    from storyboard.language.selection import Selection
    from storyboard.lint.engine import lint_file
    from storyboard.provider.pricing import load_prices

    ctx = lint_file(story).context
    assert ctx is not None, "the selection rules' storyboard lints"
    compiled = compile_specs(ctx.story, ctx.specs, load_prices(), Selection())
    return next(t.cache_key for t in compiled.tasks if t.id == "a")


# --- the text ------------------------------------------------------------------------
def _about(rule: Rule) -> str:
    api = rule.rule or "none (a rule of the language)"
    return f"API rule: {api} · severity: {rule.severity!s}"


def _beside(rule: Rule) -> str:
    """What a selection rule's examples lie beside (empty for a storyboard's rule)."""
    if not is_selection_rule(rule):
        return ""
    return selection_rules.STORY


def _file_of(rule: Rule) -> str:
    return TAKES_NAME if is_selection_rule(rule) else STORY_NAME


_BESIDE = (
    f"The examples are a {TAKES_NAME} beside this {STORY_NAME}"
    " (`{key}` stands for task a's cache key):"
)


def _fence(text: str, lang: str) -> str:
    return f"```{lang}\n{visible(text).rstrip()}\n```"


def visible(text: str) -> str:
    """`text` with control characters written as escapes (SB004's NUL byte): a page
    and a terminal show them, and the page stays text."""
    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch) != "Cc" else f"\\x{ord(ch):02x}"
        for ch in text
    )


def rule_markdown(rule: Rule, printed: Printed | None) -> str:
    """One rule's section of docs/rules.md (and of `explain --format markdown`)."""
    name = _file_of(rule)
    line, column = rule.fail_at
    said = printed.text if printed is not None else "(lint does not raise it: a bug)"
    beside = [_BESIDE, _fence(_beside(rule), "yaml")] if _beside(rule) else []
    return "\n\n".join(
        [
            f"## {rule.code}",
            f"**{rule.summary}**",
            _about(rule),
            *beside,
            f"Fails, at line {line}, column {column} ({name}):",
            _fence(rule.fail, "yaml"),
            "`storyboard lint` prints:",
            _fence(said, "text"),
            f"Passes ({name}):",
            _fence(rule.ok, "yaml"),
        ]
    )


def rule_text(rule: Rule, printed: Printed | None) -> str:
    """One rule for a terminal (`storyboard explain CODE`)."""
    name = _file_of(rule)
    line, column = rule.fail_at
    said = printed.text if printed is not None else "(lint does not raise it: a bug)"
    beside = [_BESIDE, _indent(_beside(rule)), ""] if _beside(rule) else []
    return "\n".join(
        [
            f"{rule.code}: {rule.summary}",
            f"  {_about(rule)}",
            "",
            *beside,
            f"Fails, at line {line}, column {column} ({name}):",
            _indent(rule.fail),
            "",
            "storyboard lint prints:",
            _indent(said),
            "",
            f"Passes ({name}):",
            _indent(rule.ok),
            "",
            f"(docs/rules.md#{rule.code.lower()} has every rule)",
        ]
    )


def _indent(text: str) -> str:
    lines = visible(text).rstrip().splitlines()
    return "\n".join(f"    {line}" if line else "" for line in lines)


def index_rows(rules: Iterable[Rule]) -> list[str]:
    """The page's table of rules: one row a rule, linked to its section."""
    rows = ["| code | API rule | severity | summary |", "|---|---|---|---|"]
    for rule in rules:
        summary = rule.summary.replace("|", "\\|")
        rows.append(
            f"| [{rule.code}](#{rule.code.lower()}) | {rule.rule or '-'} "
            f"| {rule.severity!s} | {summary} |"
        )
    return rows


HEADER = f"""\
# Lint rules

Every problem `storyboard lint` reports names its code (`SB504`) and, where it
enforces one, the rule of the video API it stands for (`[R9]`, see the API's
numbered rules). Each rule below has a storyboard that fails it, the message lint
prints for it, and the same storyboard fixed. `storyboard explain SB504` prints
one rule in the terminal; `storyboard explain --list` lists them all.

Errors stop a render; warnings do not (unless `storyboard lint --strict`).
The keys themselves are described in [the language reference](language.md).

<!-- Generated from the rule registry: do not edit. Regenerate with
     {REGENERATE} -->
"""


def markdown_page() -> str:
    """The whole of docs/rules.md."""
    rules = list(registry().values())
    with tempfile.TemporaryDirectory(prefix="storyboard-rules-") as scratch:
        sections = [
            rule_markdown(rule, lint_failing_example(rule, Path(scratch))) for rule in rules
        ]
    return "\n".join([HEADER, *index_rows(rules), "", "\n\n".join(sections), ""])


def main() -> None:
    sys.stdout.write(markdown_page())


if __name__ == "__main__":
    main()
