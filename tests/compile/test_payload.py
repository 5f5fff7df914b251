"""Cache keys and external task ids: what decides whether a task is rendered again.

Pure: payloads are dicts built here, file hashes are strings. A key must be
stable (the same task is found in the cache and in the provider's records
after a crash, R23), blind to the order of a dict's keys, and change with
anything that changes the clip: the payload, an upstream task's key, a local
file's content.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from storyboard.compile.payload import cache_key, external_task_id

PAYLOAD: dict[str, Any] = {
    "model_name": "kirin-v3-omni",
    "mode": "std",
    "duration": "5",
    "multi_prompt": [
        {"index": 1, "prompt": "<<<image_1>>> at dawn", "duration": "2"},
        {"index": 2, "prompt": "the keeper climbs", "duration": "3"},
    ],
    "image_list": [{"image": "${task:arrival:last_frame}", "type": "first_frame"}],
}
UPSTREAM = {"arrival": "a" * 64}


def test_the_key_is_sha256_of_the_canonical_payload_with_upstream_keys_and_sorted_files() -> None:
    canonical = json.dumps(PAYLOAD, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    canonical = canonical.replace("${task:arrival:last_frame}", f"${{key:{'a' * 64}:last_frame}}")
    material = json.dumps({"payload": canonical, "files": ["h1", "h2"]}, sort_keys=True)
    expected = hashlib.sha256(material.encode("utf-8")).hexdigest()
    assert cache_key(PAYLOAD, UPSTREAM, ["h2", "h1"]) == expected
    # Pinned: a different recipe would orphan every cached clip and journal entry.
    assert expected == "786ca757c76d5702c485986beb9311db83371407190d82ce2b2d452b185699dc"


def test_the_key_is_blind_to_the_order_of_dict_keys_at_any_depth() -> None:
    reordered = {key: PAYLOAD[key] for key in reversed(list(PAYLOAD))}
    reordered["multi_prompt"] = [dict(reversed(list(s.items()))) for s in PAYLOAD["multi_prompt"]]
    assert list(reordered) != list(PAYLOAD)
    assert cache_key(reordered, UPSTREAM, []) == cache_key(PAYLOAD, UPSTREAM, [])


def test_the_key_changes_with_the_payload() -> None:
    base = cache_key(PAYLOAD, UPSTREAM, [])
    changed = [
        {**PAYLOAD, "mode": "pro"},
        {**PAYLOAD, "duration": 5},  # a number is not the string the API takes
        {**PAYLOAD, "multi_prompt": PAYLOAD["multi_prompt"][::-1]},  # shot order is content
        {**PAYLOAD, "multi_prompt": [PAYLOAD["multi_prompt"][0]]},
        {**PAYLOAD, "negative_prompt": ""},
        {
            **PAYLOAD,
            "image_list": [{"image": "${task:arrival:last_frame}", "type": "end_frame"}],
        },
    ]
    keys = [cache_key(p, UPSTREAM, []) for p in changed]
    assert base not in keys
    assert len(set(keys)) == len(keys)


def test_the_key_changes_with_an_upstream_key_and_not_with_its_task_id() -> None:
    base = cache_key(PAYLOAD, UPSTREAM, [])
    assert cache_key(PAYLOAD, {"arrival": "b" * 64}, []) != base
    # The frame is named by its task's content, not its id: renaming the scene
    # that makes it keeps what follows in the cache.
    renamed = json.loads(json.dumps(PAYLOAD).replace("${task:arrival:", "${task:dawn:"))
    assert cache_key(renamed, {"dawn": "a" * 64}, []) == base
    # Which frame of the upstream task counts too.
    first = json.loads(json.dumps(PAYLOAD).replace(":last_frame}", ":first_frame}"))
    assert cache_key(first, UPSTREAM, []) != base


def test_upstream_tasks_the_payload_does_not_name_do_not_count() -> None:
    alone = {"model_name": "kirin-v3-omni", "prompt": "sea", "duration": "5"}
    assert cache_key(alone, {}, []) == cache_key(alone, {"arrival": "c" * 64}, [])


def test_the_key_changes_with_file_content_but_not_the_order_files_are_listed() -> None:
    base = cache_key(PAYLOAD, UPSTREAM, ["h1", "h2"])
    assert cache_key(PAYLOAD, UPSTREAM, ["h2", "h1"]) == base
    assert cache_key(PAYLOAD, UPSTREAM, ["h1", "h3"]) != base
    assert cache_key(PAYLOAD, UPSTREAM, ["h1"]) != base
    assert cache_key(PAYLOAD, UPSTREAM, []) != base


def test_file_placeholders_are_kept_as_written() -> None:
    """A `${file:...}` names a local file; its content counts through `files`, its
    name through the payload (two different names are two different keys)."""
    one = {"video_list": [{"video_url": "${file:storm.mp4}"}]}
    two = {"video_list": [{"video_url": "${file:surf.mp4}"}]}
    assert cache_key(one, {}, ["h"]) != cache_key(two, {}, ["h"])


def test_the_external_task_id_is_the_keys_first_40_characters_behind_sb() -> None:
    key = cache_key(PAYLOAD, UPSTREAM, [])
    ident = external_task_id(key)
    assert ident == "sb-" + key[:40]
    assert len(ident) == 43
    assert external_task_id(key) == ident  # a resubmission after a crash finds the task
    assert external_task_id(cache_key(PAYLOAD, {"arrival": "b" * 64}, [])) != ident
