"""JSON: one array of problem objects (file, line, column, code, rule, severity, message, hint)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from storyboard.problems import Problem


def format_problems(problems: Sequence[Problem], files: Sequence[str]) -> str:
    return json.dumps([p.to_dict() for p in problems], indent=2, ensure_ascii=False)
