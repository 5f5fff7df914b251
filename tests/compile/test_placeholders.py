"""Placeholders: formatted and parsed by one type, found anywhere in a payload,
substituted in JSON text (pure: no files)."""

from __future__ import annotations

import json

import pytest

from storyboard.compile.placeholders import Placeholder, find, substitute


@pytest.mark.parametrize(
    ("placeholder", "text"),
    [
        (Placeholder("arrival", "last_frame"), "${task:arrival:last_frame}"),
        (Placeholder("method.2", "first_frame"), "${task:method.2:first_frame}"),
        (Placeholder("squall", "video_url"), "${task:squall:video_url}"),
        (Placeholder.file("clips/sea wave.mp4"), "${file:clips/sea wave.mp4}"),
    ],
)
def test_format_and_parse_are_inverse(placeholder: Placeholder, text: str) -> None:
    assert placeholder.format() == text
    assert Placeholder.parse(text) == placeholder


def test_a_frame_is_named_by_which_end() -> None:
    assert Placeholder.frame("a", "last") == Placeholder("a", "last_frame")
    assert Placeholder.frame("a", "first").format() == "${task:a:first_frame}"
    with pytest.raises(ValueError):
        Placeholder.frame("a", "middle")


@pytest.mark.parametrize(
    "text",
    [
        "https://cdn.example/x.png",
        "iVBORw0KGgoAAAANSUhEUgAA",
        "${task:a:middle_frame}",  # a kind this tool never writes
        "${scene:a:last_frame}",  # lint's provisional frame, never in a plan
        "${task:a:last_frame} and more",  # not a placeholder in full
        "${file:a}}",
        "",
    ],
)
def test_anything_else_is_not_a_placeholder(text: str) -> None:
    assert Placeholder.parse(text) is None


def test_is_file_tells_the_two_families_apart() -> None:
    assert Placeholder.file("a.mp4").is_file
    assert not Placeholder("a", "video_url").is_file


def test_find_walks_a_whole_payload_in_order() -> None:
    payload = {
        "prompt": "no ${placeholder} here",
        "image_list": [
            {"image_url": "${task:dawn:last_frame}", "type": "first_frame"},
            {"image_url": "https://x/y.png"},
        ],
        "video_list": [{"video_url": "${file:clips/a.mp4}"}],
        "nested": [[{"deep": "${task:night:video_url}"}]],
    }
    assert list(find(payload)) == [
        Placeholder("dawn", "last_frame"),
        Placeholder.file("clips/a.mp4"),
        Placeholder("night", "video_url"),
    ]
    assert list(find({"prompt": "plain", "n": 3, "b": True, "none": None})) == []


def test_substitute_replaces_only_what_it_is_given() -> None:
    text = json.dumps(
        {"a": "${task:dawn:last_frame}", "b": "${file:x.mp4}", "c": "${task:dawn:bogus}"}
    )

    def keyed(found: Placeholder) -> str | None:
        return None if found.is_file else f"${{key:K-{found.task}:{found.kind}}}"

    out = json.loads(substitute(text, keyed))
    assert out == {"a": "${key:K-dawn:last_frame}", "b": "${file:x.mp4}", "c": "${task:dawn:bogus}"}
