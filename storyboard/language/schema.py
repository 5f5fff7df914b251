"""The storyboard JSON Schema: loading it and turning its errors into problems.

One useful problem per offending node: `oneOf`/`anyOf` failures are reduced
to the best-matching branch's error instead of a cascade, unknown keys get a
"did you mean", and every problem sits at the node's line and column.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from storyboard.language.load import Document, NodePath
from storyboard.problems import Problem, did_you_mean

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
STORYBOARD_SCHEMA = SCHEMA_DIR / "storyboard.schema.json"


@functools.cache
def storyboard_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(STORYBOARD_SCHEMA.read_text(encoding="utf-8"))
    return schema


def schema_id() -> str:
    """The schema's stable URL (its `$id`), the same on every machine."""
    return str(storyboard_schema()["$id"])


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(storyboard_schema())


def _describe(path: NodePath) -> str:
    """A readable name of a node: `scenes[2].shots[0].duration`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the document"


def _leaf(error: ValidationError) -> ValidationError:
    """Descend from a oneOf/anyOf failure to the most useful branch error."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        deeper = best_match(error.context, key=_relevance)
        if deeper is None:
            break
        error = deeper
    return error


def _relevance(error: ValidationError) -> tuple[int, int, int]:
    # Prefer errors deep in the instance from branches whose type matched.
    return (-len(error.path), 0 if error.validator == "type" else 1, 0)


def _allowed_keys(schema: dict[str, Any]) -> list[str]:
    keys = list(schema.get("properties", {}))
    for sub in schema.get("allOf", []):
        keys += list(sub.get("then", {}).get("properties", {}))
    return keys


def _message(error: ValidationError, where: str) -> tuple[str, str]:
    kind = error.validator
    value = error.validator_value
    inst = error.instance
    if kind == "type":
        expected = value if isinstance(value, str) else " or ".join(value)
        return f"{where} must be {_article(expected)}, not {_json_type(inst)}", ""
    if kind == "enum":
        choices = ", ".join(json.dumps(v) for v in value)
        hint = did_you_mean(inst, [str(v) for v in value])
        return f"{where} is {json.dumps(inst)}; expected one of {choices}", hint
    if kind == "const":
        return f"{where} must be {json.dumps(value)}, not {json.dumps(inst)}", ""
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(value)
        return f"{where} is missing required key {missing!r}", ""
    if kind == "pattern":
        return f"{where} {json.dumps(inst)} does not match the pattern {value}", _pattern_hint(
            value
        )
    if kind in ("minimum", "exclusiveMinimum"):
        return f"{where} is {inst}; the minimum is {value}", ""
    if kind in ("maximum", "exclusiveMaximum"):
        return f"{where} is {inst}; the maximum is {value}", ""
    if kind == "minItems":
        return f"{where} needs at least {value} item(s)", ""
    if kind == "maxItems":
        return f"{where} takes at most {value} item(s)", ""
    if kind == "maxLength":
        return f"{where} is {len(inst)} characters long; at most {value} are allowed", ""
    if kind == "minLength":
        return f"{where} must not be empty", ""
    if kind == "uniqueItems":
        return f"{where} lists the same item twice", ""
    if kind == "minProperties":
        return f"{where} must not be empty", ""
    if kind == "oneOf" and "valid under each of" in error.message:
        return f"{where} sets keys that exclude each other", ""
    return f"{where}: {error.message}", ""


def _article(word: str) -> str:
    names = {"object": "a mapping", "array": "a list", "integer": "an integer"}
    return names.get(word, f"a {word}")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "null" if value is None else type(value).__name__


def _pattern_hint(pattern: str) -> str:
    if pattern == "^[a-z][a-z0-9_-]*$":
        return "scene ids start with a lower case letter and use a-z, 0-9, _ and -"
    if pattern == "^[A-Za-z_][A-Za-z0-9_]*$":
        return "names are identifiers: letters, digits and _, not starting with a digit"
    return ""


def schema_problems(doc: Document) -> Iterator[Problem]:
    """Validate the document against the schema: one problem per offending node."""
    seen: set[tuple[NodePath, str]] = set()
    for top in _validator().iter_errors(doc.data):
        for error in _flatten(top):
            path: NodePath = tuple(error.absolute_path)
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                allowed = _allowed_keys(error.schema)
                extra = [k for k in error.instance if k not in allowed]
                for key in extra:
                    kp = (*path, key)
                    if (kp, "unknown") in seen:
                        continue
                    seen.add((kp, "unknown"))
                    yield Problem.at(
                        doc.pos(kp, key=True),
                        "SB101",
                        f"unknown key {key!r} in {_describe(path)}",
                        hint=did_you_mean(key, allowed)
                        or f"allowed keys: {', '.join(sorted(allowed))}",
                    )
                continue
            if (path, "value") in seen:
                continue
            seen.add((path, "value"))
            message, hint = _message(error, _describe(path))
            yield Problem.at(doc.pos(path), "SB100", message, hint=hint)


def _flatten(error: ValidationError) -> Iterator[ValidationError]:
    """Yield the useful leaf errors of one top-level error.

    `allOf`/`if-then` failures carry their real errors in `context`; the
    `oneOf` of assets and frames is reduced to its best branch.
    """
    leaf = _leaf(error)
    if leaf.validator in ("allOf",) and leaf.context:
        for sub in leaf.context:
            yield from _flatten(sub)
        return
    if leaf.validator == "oneOf" and leaf.context and "valid under each" not in leaf.message:
        # no branch fits and none is clearly closest: say what was expected
        yield leaf
        return
    yield leaf
