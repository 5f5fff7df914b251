"""One module per output format; the linter never knows how it is printed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from storyboard.lint.formatters import github, json, sarif, text
from storyboard.problems import Problem

Formatter = Callable[[Sequence[Problem], Sequence[str]], str]

FORMATTERS: dict[str, Formatter] = {
    "text": text.format_problems,
    "json": json.format_problems,
    "github": github.format_problems,
    "sarif": sarif.format_problems,
}
