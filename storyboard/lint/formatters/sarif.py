"""SARIF 2.1.0, for code-scanning dashboards."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from storyboard import __version__
from storyboard.problems import Problem, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

# SARIF result levels (2.1.0, 3.27.10): "note" is its own level, as ours is.
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


def format_problems(problems: Sequence[Problem], files: Sequence[str]) -> str:
    from storyboard.lint.rules import all_rules
    from storyboard.lint.rules.selection import RULES as SELECTION_RULES

    known = {**all_rules(), **SELECTION_RULES}
    codes = sorted({p.code for p in problems})
    rules = []
    for code in codes:
        rule = known.get(code)
        entry: dict[str, object] = {"id": code}
        if rule is not None:
            entry["shortDescription"] = {"text": rule.summary}
            entry["properties"] = {"apiRule": rule.rule}
        rules.append(entry)
    results = [
        {
            "ruleId": p.code,
            "level": LEVEL[p.severity],
            "message": {"text": p.message + (f" ({p.hint})" if p.hint else "")},
            "properties": {"apiRule": p.rule},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": Path(p.file).as_posix()},
                        "region": {"startLine": p.line, "startColumn": p.column},
                    }
                }
            ],
        }
        for p in problems
    ]
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "storyboard",
                        "version": __version__,
                        "informationUri": "https://github.com/storyboard/storyboard",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)
