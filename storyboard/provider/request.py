"""Is this request body one the kirin API accepts? (API.md R1-R23)

Two layers, one answer. The JSON Schema (`schemas/kirin-omni-video.request.schema.json`)
holds every rule it can express, so editors and other tools can use it too;
the checks below hold the cross-field rules it cannot (sums, counts, rules
that depend on several lists at once). The compiler calls `validate_request`
before it writes a plan and the mock provider calls it before it accepts a
task, so both refuse exactly the same payloads.

Every message starts with the id of the rule it enforces:

    >>> validate_request({"model": "kirin_v3_omni_video", "prompt": "a cat",
    ...                   "duration": "5", "aspect_ratio": "16:9"})
    []
    >>> validate_request({"model": "kirin_v3_omni_video", "prompt": "a cat",
    ...                   "duration": "5"})
    ['R18: aspect_ratio is required without a first frame or a base video edit']

Placeholders the executor resolves later (`${task:x:video_url}`) are plain
non-empty strings here, so a plan's payloads validate before they are sent.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema

import storyboard
from storyboard.provider import api
from storyboard.provider.shape import TaskShape, edits_base, shape_violations

SCHEMA_FILE = "kirin-omni-video.request.schema.json"
_RULE_ID = re.compile(r"^((?:R|T|S)\d+(?:/R\d+)*):\s*(.*)$", re.S)
_UNKNOWN_FIELD_RULE = "R1-R23"


def schema_path() -> Path:
    """Where the request schema lives (the package's `schemas` link to the top-level folder)."""
    return Path(storyboard.__file__).parent / "schemas" / SCHEMA_FILE


@functools.cache
def request_schema() -> dict[str, Any]:
    """The request schema as a dict (read once)."""
    schema: dict[str, Any] = json.loads(schema_path().read_text(encoding="utf-8"))
    return schema


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    # The schema ships with the package and the tests prove it a valid schema;
    # checking it again here cost a tenth of a second of every compile.
    return jsonschema.Draft202012Validator(request_schema())


def validate_request(payload: Any) -> list[str]:
    """Every way `payload` breaks R1-R23, one message per problem, rule id first.

    Schema errors come first (in document order), then the semantic checks.
    The semantic checks skip whatever is malformed, since the schema has
    already said so once.
    """
    errors = sorted(_validator().iter_errors(payload), key=lambda e: list(map(str, e.path)))
    messages = [m for e in errors for m in _schema_messages(e)]
    if isinstance(payload, Mapping):
        messages.extend(_semantic_problems(payload))
    return list(dict.fromkeys(messages))


# --- schema errors as rule-cited messages ------------------------------------------


def _schema_messages(error: jsonschema.ValidationError) -> Iterator[str]:
    root = request_schema()
    path = list(error.absolute_schema_path)
    if len(path) >= 2 and path[0] == "allOf":
        # A cross-field rule: its description is the whole message.
        yield root["allOf"][path[1]]["description"].rstrip(".")
        return
    node: Any = root
    described = ""
    for key in path[:-1]:
        node = node[key]
        if isinstance(node, dict) and _RULE_ID.match(node.get("description", "")):
            described = node["description"]
    where = _location(error.absolute_path)
    if error.validator == "required":
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        properties = error.schema.get("properties", {})
        for name in error.validator_value:
            if name not in instance:
                rule = _rule_of(properties.get(name, {}).get("description", "")) or "R1"
                field = f"{where}.{name}" if where else name
                yield f"{rule}: {field} is required"
        return
    if error.validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - known) if isinstance(error.instance, Mapping) else []
        rule = _rule_of(described) or _UNKNOWN_FIELD_RULE
        for name in extra:
            field = f"{where}.{name}" if where else name
            yield f"{rule}: unknown field {field} (the API defines no such field)"
        return
    rule = _rule_of(described) or _UNKNOWN_FIELD_RULE
    explanation = _RULE_ID.match(described).group(2) if described else ""  # type: ignore[union-attr]
    yield f"{rule}: {where or 'the request body'} {_detail(error, explanation)}"


def _rule_of(description: str) -> str:
    match = _RULE_ID.match(description)
    return match.group(1) if match else ""


def _location(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _detail(error: jsonschema.ValidationError, explanation: str) -> str:
    value, limit = error.instance, error.validator_value
    match error.validator:
        case "maxLength":
            return f"is {len(value)} characters long, more than {limit}"
        case "minLength":
            return "must not be empty"
        case "maxItems":
            return f"has {len(value)} items, at most {limit} allowed"
        case "minItems":
            return f"has {len(value)} items, at least {limit} required"
        case "type":
            return f"must be of type {limit}, not {_short(value)}"
        case "minimum" | "maximum":
            return f"{_short(value)} is out of range ({error.validator} {limit})"
        case _:
            suffix = f" ({explanation.rstrip('.')})" if explanation else ""
            return f"{_short(value)} is not allowed{suffix}"


# --- cross-field rules the schema cannot express ---------------------------------------


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _whole_seconds(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _semantic_problems(p: Mapping[str, Any]) -> Iterator[str]:
    images = _dicts(p.get("image_list"))
    elements = _dicts(p.get("element_list"))
    videos = _dicts(p.get("video_list"))
    frames = {i.get("type") for i in images} & set(api.FRAME_TYPES)
    has_first = "first_frame" in frames
    base_edit = edits_base(videos)
    explicit = "duration" in p
    seconds = _whole_seconds(p.get("duration", str(api.DEFAULT_TASK_SECONDS)))
    multi = p.get("multi_shot") is True
    shots = _dicts(p.get("multi_prompt")) if multi else []

    if multi and not base_edit and seconds is not None:
        yield from _shot_durations(shots, seconds, explicit)
    if multi:
        indexes = [s.get("index") for s in shots]
        if indexes != list(range(1, len(shots) + 1)):
            yield f"R5: multi_prompt indexes are {indexes}, expected 1..{len(shots)} in order"
    shape = TaskShape(
        shots=len(shots) if multi else 1,
        seconds=None if base_edit else seconds,
        images=len(images),
        elements=len(elements),
        first_frame=has_first,
        end_frame="end_frame" in frames,
        has_video=bool(videos),
    )
    for rule, message in shape_violations(shape):
        yield f"{rule}: {message}"
    if base_edit and frames:
        yield "R15: a base video edit (refer_type base) cannot set a first or end frame"
    if "aspect_ratio" not in p and not has_first and not base_edit:
        yield "R18: aspect_ratio is required without a first frame or a base video edit"
    texts = [(f"shot {s.get('index', n)}", s.get("prompt")) for n, s in enumerate(shots, 1)]
    if not multi:
        texts = [("prompt", p.get("prompt"))]
    counts = {"image": len(images), "element": len(elements), "video": len(videos)}
    for where, text in texts:
        if isinstance(text, str):
            yield from _token_problems(where, text, counts)


def _shot_durations(shots: list[Mapping[str, Any]], seconds: int, explicit: bool) -> Iterator[str]:
    lengths = [_whole_seconds(s.get("duration")) for s in shots]
    if not shots or None in lengths:
        return
    total = sum(length for length in lengths if length is not None)
    shown = f"duration is {seconds}" + ("" if explicit else " (the API default)")
    if total != seconds:
        yield f"R7: shot durations sum to {total}, {shown}"
    for n, length in enumerate(lengths, 1):
        if length is not None and length > seconds:
            yield f"R7: shot {n} lasts {length} s, more than the task's {seconds} s"


def _token_problems(where: str, text: str, counts: Mapping[str, int]) -> Iterator[str]:
    for match in api.INDEXED_TOKEN.finditer(text):
        kind, n = match.group(1), int(match.group(2))
        have = counts[kind]
        if not 1 <= n <= have:
            yield (
                f"R4: {match.group(0)} in {where} refers to {kind} {n}, "
                f"but {kind}_list has {have} item{'s' if have != 1 else ''}"
            )
