"""The lint stage: load, schema, normalise, semantic rules; problems out.

`lint_file` never raises for bad input: every malformed file ends as
problems with positions. It returns the normalised storyboard too, so the
compiler can start from what lint proved: with the selection file beside it
(`<stem>.takes.yaml`), linted too, and, when the storyboard has no errors and
the file has picks to judge, the compilation made to judge them
(`pipeline.compile_storyboard` uses it rather than compiling twice; a lint
without picks compiles nothing, as before).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from storyboard.bounds import MAX_SNIFF_BYTES
from storyboard.compile.budget import storyboard_budget
from storyboard.compile.compiler import Compilation
from storyboard.errors import FileRefused
from storyboard.language.load import load_document
from storyboard.language.model import Storyboard, build_storyboard
from storyboard.language.schema import schema_problems
from storyboard.language.selection import Selection, load_selection, selection_path
from storyboard.lint.rules import Context, families
from storyboard.lint.rules import selection as selection_rules
from storyboard.localfile import open_regular
from storyboard.problems import Problem

STORYBOARD_MARK = re.compile(r"^storyboard\s*:", re.MULTILINE)


@dataclass
class LintResult:
    path: Path
    problems: list[Problem]
    story: Storyboard | None
    context: Context | None
    selection: Selection = field(default_factory=Selection)  # empty when there is no file
    compilation: Compilation | None = None  # with the selection; None on errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def files(self) -> list[Path]:
        """The files linted: the storyboard, and its selection file when there is one."""
        extra = self.selection.path
        return [self.path, *([extra] if extra is not None and os.path.lexists(extra) else [])]


def lint_file(
    path: str | Path, *, check_urls: bool = False, allow_private_urls: bool = False
) -> LintResult:
    """Lint one storyboard file: every problem, sorted by position.

    URLs are fetched only with `check_urls`; loopback and private hosts only
    with `allow_private_urls` as well (storyboard.urlcheck)."""
    doc, problems = load_document(path)
    selection = _selection_beside(Path(path))
    if doc is None:
        return LintResult(
            Path(path), _sorted([*problems, *selection.problems]), None, None, selection
        )
    problems.extend(schema_problems(doc))
    # one problem per node: a node the schema refused is not judged again by the rules
    refused = {(p.file, p.line, p.column) for p in problems}
    story = build_storyboard(doc)
    ctx = Context(
        doc=doc, story=story, check_urls=check_urls, allow_private_urls=allow_private_urls
    )
    with storyboard_budget():  # all its prompts together are bounded, not only each
        for _rules, check in families():
            problems.extend(p for p in check(ctx) if (p.file, p.line, p.column) not in refused)
    compilation = None
    if selection.tasks and not any(p.is_error for p in problems):  # picks to judge
        compilation = selection_rules.compile_for_lint(ctx, selection)
        if compilation is not None:
            problems.extend(selection_rules.check(selection, compilation))
    problems.extend(selection.problems)
    return LintResult(Path(path), _sorted(problems), story, ctx, selection, compilation)


def _selection_beside(path: Path) -> Selection:
    """The selection file of the storyboard `path` (empty if there is none, or if
    `path` has no name to put one beside, as `/`)."""
    try:
        beside = selection_path(path)
    except ValueError:
        return Selection()
    return load_selection(beside)


def _sorted(problems: Iterable[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=Problem.sort_key)


def expand_paths(args: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Files to lint from files, directories and globs; and the args that matched nothing."""
    files: list[Path] = []
    missing: list[str] = []
    for arg in args:
        pattern = glob.has_magic(arg)
        matches = [Path(m) for m in sorted(glob.glob(arg, recursive=True))] or [Path(arg)]
        found = False
        for match in matches:
            if match.is_dir():
                for candidate in sorted([*match.rglob("*.yaml"), *match.rglob("*.yml")]):
                    if "build" in candidate.parts:
                        continue
                    if _looks_like_storyboard(candidate):
                        files.append(candidate)
                        found = True
            elif match.exists() and (not pattern or _looks_like_storyboard(match)):
                files.append(match)
                found = True
        if not found:
            missing.append(arg)
    return list(dict.fromkeys(files)), missing


def _looks_like_storyboard(path: Path) -> bool:
    """Whether a file a glob or folder found starts like a storyboard. Only its head
    is read, and only of a regular file: a glob may find a FIFO or /dev/zero."""
    try:
        with open_regular(path) as fh:
            head = fh.read(MAX_SNIFF_BYTES)
    except (FileRefused, OSError):
        return False
    return bool(STORYBOARD_MARK.search(head.decode("utf-8", errors="replace")))
