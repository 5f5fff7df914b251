"""Human text: `file:line:col: CODE [R9] message`, then the hint, then a summary,
then how to look the first code up (`storyboard explain CODE`)."""

from __future__ import annotations

from collections.abc import Sequence

from storyboard.problems import Problem, Severity

# What precedes the message: nothing for an error (the usual case), else the level.
LEVEL_WORD = {Severity.ERROR: "", Severity.WARNING: "warning: ", Severity.NOTE: "note: "}


def format_problem(p: Problem) -> str:
    rule = f" [{p.rule}]" if p.rule else ""
    line = f"{p.file}:{p.line}:{p.column}: {p.code}{rule} {LEVEL_WORD[p.severity]}{p.message}"
    if p.hint:
        line += f"\n    hint: {p.hint}"
    return line


def _count(n: int, word: str) -> str:
    return f"{n} {word}(s)"


def format_problems(problems: Sequence[Problem], files: Sequence[str]) -> str:
    lines = [format_problem(p) for p in problems]
    errors = sum(1 for p in problems if p.severity is Severity.ERROR)
    warnings = sum(1 for p in problems if p.severity is Severity.WARNING)
    notes = len(problems) - errors - warnings
    n = len(files)
    where = f"{n} file" + ("" if n == 1 else "s")
    if errors or warnings:
        counts = [_count(errors, "error"), _count(warnings, "warning")]
        counts += [_count(notes, "note")] if notes else []
        lines.append(f"{', '.join(counts)} in {where}")
    elif notes:  # notes ask for no change: the files are clean
        lines.append(f"{where} clean, {_count(notes, 'note')}")
    else:
        lines.append(f"{where} clean")
    if problems:
        # Every code has a page of its own: say how to open it, for the first one shown.
        lines.append(f"look a code up: storyboard explain {problems[0].code}")
    return "\n".join(lines)
