"""Problems are plain data: rules yield them, formatters print them, the CLI
picks the exit code. Nothing here prints or exits."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How much a problem weighs. An error fails lint; a warning fails it only
    with --strict; a note never does: it tells what the compiler will do (split
    a scene, say) so that nothing happens silently, and asks for no change."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, order=True)
class Pos:
    """A place in a source file; line and column are 1-based."""

    file: str
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a storyboard, at one place."""

    file: str
    line: int
    column: int
    code: str
    rule: str  # the API.md rule id enforced ("R9"), or "" for the language's own rules
    severity: Severity
    message: str
    hint: str = ""

    @classmethod
    def at(
        cls,
        pos: Pos,
        code: str,
        message: str,
        *,
        rule: str = "",
        hint: str = "",
        severity: Severity = Severity.ERROR,
    ) -> Problem:
        return cls(pos.file, pos.line, pos.column, code, rule, severity, message, hint)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def is_note(self) -> bool:
        return self.severity is Severity.NOTE

    def fails(self, *, strict: bool = False) -> bool:
        """Whether this problem makes lint exit non-zero: an error always, a warning
        with --strict, a note never (it asks for nothing to be changed)."""
        return self.is_error or (strict and self.severity is Severity.WARNING)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.code)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = str(self.severity)
        return data


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """The hint for a name that is not one of `choices`: the closest one, if any is close."""
    if not isinstance(word, str):
        return ""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else ""
