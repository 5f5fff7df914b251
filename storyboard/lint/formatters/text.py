"""Human text: `file:line:col: CODE [R9] message`, then the hint, then a summary."""

from __future__ import annotations

from collections.abc import Sequence

from storyboard.problems import Problem


def format_problem(p: Problem) -> str:
    rule = f" [{p.rule}]" if p.rule else ""
    level = "warning: " if not p.is_error else ""
    line = f"{p.file}:{p.line}:{p.column}: {p.code}{rule} {level}{p.message}"
    if p.hint:
        line += f"\n    hint: {p.hint}"
    return line


def format_problems(problems: Sequence[Problem], files: Sequence[str]) -> str:
    lines = [format_problem(p) for p in problems]
    errors = sum(1 for p in problems if p.is_error)
    warnings = len(problems) - errors
    n = len(files)
    where = f"{n} file" + ("" if n == 1 else "s")
    if problems:
        lines.append(f"{errors} error(s), {warnings} warning(s) in {where}")
    else:
        lines.append(f"{where} clean")
    return "\n".join(lines)
