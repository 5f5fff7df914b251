"""The request schema and the semantic checks: one failing and one passing payload per rule."""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema
import pytest

from storyboard.provider import api
from storyboard.provider.request import request_schema, schema_path, validate_request

BASE: dict[str, Any] = {
    "model": api.MODEL,
    "prompt": "a lighthouse at dawn",
    "duration": "5",
    "mode": "std",
    "sound": "off",
    "aspect_ratio": "16:9",
    "watermark_info": {"enabled": False},
    "external_task_id": "sb-0123",
}
MULTI: dict[str, Any] = {
    "model": api.MODEL,
    "multi_shot": True,
    "shot_type": "customize",
    "multi_prompt": [
        {"index": 1, "prompt": "wide shot", "duration": "4"},
        {"index": 2, "prompt": "close-up", "duration": "3"},
    ],
    "duration": "7",
    "aspect_ratio": "9:16",
}
IMG = {"image_url": "data:image/png;base64,iVBORw0KGgo="}
FIRST = {**IMG, "type": "first_frame"}
END = {**IMG, "type": "end_frame"}
FEATURE = {"video_url": "https://cdn.example.com/a.mp4", "refer_type": "feature"}
BASE_EDIT = {"video_url": "https://cdn.example.com/a.mp4", "refer_type": "base"}

VALID = {
    "single shot": BASE,
    "multi shot": MULTI,
    "first frame, no aspect ratio (R18)": {
        **BASE,
        "aspect_ratio": None,
        "image_list": [FIRST, END],
    },
    "base edit, no duration or aspect ratio (R15)": {
        "model": api.MODEL,
        "prompt": "same shot at night",
        "video_list": [BASE_EDIT],
    },
    "feature reference with tokens (R4, R13)": {
        **BASE,
        "prompt": "<<<video_1>>> with <<<image_1>>> and <<<element_2>>>",
        "image_list": [IMG],
        "element_list": [{"element_id": 1}, {"element_id": 2}],
        "video_list": [FEATURE],
    },
    "placeholders stay valid until resolved": {
        **BASE,
        "image_list": [{"image_url": "${task:arrival:last_frame}", "type": "first_frame"}],
    },
}

# (name, changes to BASE or a full payload, rule id the first message must cite)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("R1 model", {"model": "other"}, "R1"),
    ("R1 missing model", {"model": None}, "R1"),
    ("R2 empty prompt", {"prompt": "  "}, "R2"),
    ("R3 shot type", {**MULTI, "shot_type": "auto"}, "R3"),
    ("R3/R5 missing multi_prompt", {**MULTI, "multi_prompt": None}, "R3/R5"),
    ("R4 long prompt", {"prompt": "x" * (api.MAX_PROMPT_CHARS + 1)}, "R4"),
    ("R4 token out of range", {"prompt": "<<<image_2>>>", "image_list": [IMG]}, "R4"),
    (
        "R5 seven shots",
        {
            **MULTI,
            "multi_prompt": [{"index": i, "prompt": "p", "duration": "1"} for i in range(1, 8)],
        },
        "R5",
    ),
    (
        "R5 index order",
        {
            **MULTI,
            "multi_prompt": [
                {"index": 2, "prompt": "a", "duration": "4"},
                {"index": 1, "prompt": "b", "duration": "3"},
            ],
        },
        "R5",
    ),
    (
        "R6 long shot prompt",
        {
            **MULTI,
            "multi_prompt": [
                {"index": 1, "prompt": "y" * (api.MAX_SHOT_PROMPT_CHARS + 1), "duration": "7"}
            ],
        },
        "R6",
    ),
    ("R7 sum", {**MULTI, "duration": "8"}, "R7"),
    (
        "R7 zero shot",
        {**MULTI, "multi_prompt": [{"index": 1, "prompt": "a", "duration": "0"}]},
        "R7",
    ),
    ("R8 empty image url", {"image_list": [{"image_url": ""}]}, "R8"),
    ("R10 end frame alone", {"image_list": [END]}, "R10"),
    ("R10 two first frames", {"image_list": [FIRST, FIRST]}, "R10"),
    ("R10 end frame with 3 images", {"image_list": [FIRST, IMG, END]}, "R10"),
    (
        "R11 eight references",
        {"image_list": [IMG] * 4, "element_list": [{"element_id": 1}] * 4},
        "R11",
    ),
    (
        "R11 five with a video",
        {"image_list": [IMG] * 3, "element_list": [{"element_id": 1}] * 2, "video_list": [FEATURE]},
        "R11",
    ),
    (
        "R12 four elements with a first frame",
        {"image_list": [FIRST], "element_list": [{"element_id": 1}] * 4},
        "R12",
    ),
    ("R12 element id type", {"element_list": [{"element_id": "831204"}]}, "R12"),
    ("R13 two videos", {"video_list": [FEATURE, FEATURE]}, "R13"),
    ("R13 refer type", {"video_list": [{**FEATURE, "refer_type": "style"}]}, "R13"),
    ("R15 frame on a base edit", {"video_list": [BASE_EDIT], "image_list": [FIRST]}, "R15"),
    ("R16 sound with a video", {"video_list": [FEATURE], "sound": "on"}, "R16"),
    ("R17 mode", {"mode": "ultra"}, "R17"),
    ("R18 no aspect ratio", {"aspect_ratio": None}, "R18"),
    ("R18 bad aspect ratio", {"aspect_ratio": "4:3"}, "R18"),
    ("R19 duration too long", {"duration": "16"}, "R19"),
    ("R19 duration as a number", {"duration": 5}, "R19"),
    ("R20 long feature reference", {"video_list": [FEATURE], "duration": "12"}, "R20"),
    ("R21 custom watermark", {"watermark_info": {"enabled": True, "text": "me"}}, "R21"),
    ("R22 callback url", {"callback_url": "not a url"}, "R22"),
    ("R23 empty external id", {"external_task_id": ""}, "R23"),
]
RULE_PREFIX = re.compile(r"^(R\d+(/R\d+)*|R1-R23): ")


def payload_of(changes: dict[str, Any]) -> dict[str, Any]:
    start = copy.deepcopy(MULTI if changes.get("multi_shot") else BASE)
    start.update(copy.deepcopy(changes))
    return {k: v for k, v in start.items() if v is not None}


@pytest.mark.parametrize("payload", VALID.values(), ids=VALID.keys())
def test_valid_payloads_pass(payload: dict[str, Any]) -> None:
    assert validate_request(payload_of(payload)) == []


@pytest.mark.parametrize(
    ("changes", "rule"), [(c, r) for _, c, r in INVALID], ids=[n for n, _, _ in INVALID]
)
def test_each_rule_is_reported_with_its_id(changes: dict[str, Any], rule: str) -> None:
    messages = validate_request(payload_of(changes))
    assert messages, "expected a problem"
    assert any(m.startswith(f"{rule}: ") for m in messages), messages
    assert all(RULE_PREFIX.match(m) for m in messages), messages


def test_r7_message_names_both_numbers() -> None:
    payload = payload_of({**MULTI, "duration": "10"})
    assert "R7: shot durations sum to 7, duration is 10" in validate_request(payload)


def test_unknown_field_and_non_object() -> None:
    assert validate_request(payload_of({"colour": "red"})) == [
        "R1-R23: unknown field colour (the API defines no such field)"
    ]
    assert validate_request(["not", "an", "object"])[0].startswith("R1-R23: ")


def test_huge_values_are_not_echoed() -> None:
    blob = "A" * 100_000
    messages = validate_request(payload_of({"duration": blob}))
    assert messages and all(len(m) < 300 for m in messages)


def test_schema_is_2020_12_and_closed() -> None:
    schema = request_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["$id"].endswith(schema_path().name)
    assert schema["additionalProperties"] is False


def test_schema_limits_match_the_api_constants() -> None:
    """The schema is JSON, so it repeats numbers: this keeps them equal to api.py (STYLE 12)."""
    props = request_schema()["properties"]
    shot = props["multi_prompt"]["items"]["properties"]
    assert props["model"]["const"] == api.MODEL
    assert props["prompt"]["maxLength"] == api.MAX_PROMPT_CHARS
    assert shot["prompt"]["maxLength"] == api.MAX_SHOT_PROMPT_CHARS
    assert props["multi_prompt"]["maxItems"] == api.MAX_SHOTS
    assert props["video_list"]["maxItems"] == api.MAX_VIDEOS
    assert tuple(props["mode"]["enum"]) == api.MODES
    assert tuple(props["sound"]["enum"]) == api.SOUND_VALUES
    assert tuple(props["aspect_ratio"]["enum"]) == api.ASPECT_RATIOS
    assert tuple(props["image_list"]["items"]["properties"]["type"]["enum"]) == api.FRAME_TYPES
    assert tuple(props["video_list"]["items"]["properties"]["refer_type"]["enum"]) == (
        api.REFER_TYPES
    )
    durations = re.compile(props["duration"]["pattern"])
    accepted = [s for s in range(0, 30) if durations.match(str(s))]
    assert accepted == list(range(api.MIN_TASK_SECONDS, api.MAX_TASK_SECONDS + 1))
    shots = re.compile(shot["duration"]["pattern"])
    assert [s for s in range(0, 30) if shots.match(str(s))] == list(
        range(api.MIN_SHOT_SECONDS, api.MAX_TASK_SECONDS + 1)
    )


def test_every_description_cites_a_rule() -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            text = node.get("description")
            if isinstance(text, str) and where:
                assert RULE_PREFIX.match(text), f"{where}: {text}"
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(request_schema(), "")
