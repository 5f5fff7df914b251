"""GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` annotation per
problem."""

from __future__ import annotations

from collections.abc import Sequence

from storyboard.problems import Problem, Severity

# GitHub's annotation levels; a note is a notice (shown, never failing a check).
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def format_problems(problems: Sequence[Problem], files: Sequence[str]) -> str:
    out = []
    for p in problems:
        level = LEVEL[p.severity]
        title = p.code + (f" [{p.rule}]" if p.rule else "")
        message = p.message + (f"\n{p.hint}" if p.hint else "")
        out.append(
            f"::{level} file={_escape_property(p.file)},line={p.line},col={p.column},"
            f"title={_escape_property(title)}::{_escape_data(message)}"
        )
    return "\n".join(out)
