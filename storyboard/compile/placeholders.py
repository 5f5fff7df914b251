"""Placeholders: the values a payload can hold only at run time, as one small type.

The compiler writes `${task:<id>:last_frame}`, `${task:<id>:first_frame}` and
`${task:<id>:video_url}` where a task needs an upstream task's output, and
`${file:<path>}` for a local video the API cannot read by itself (R13). The
executor resolves them just before a task is sent; the cache key replaces
the task ones by the upstream task's key. All of them format and parse here,
so that the writing and the reading can never drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

TaskOutput = Literal["last_frame", "first_frame", "video_url"]
FILE: Literal["file"] = "file"
TASK_OUTPUTS: dict[str, TaskOutput] = {
    "last_frame": "last_frame",
    "first_frame": "first_frame",
    "video_url": "video_url",
}
FRAMES: dict[str, TaskOutput] = {"first": "first_frame", "last": "last_frame"}

# Inside JSON text or a payload string; a body never holds a closing brace.
PATTERN = re.compile(r"\$\{(task|file):([^}]*)\}")


@dataclass(frozen=True)
class Placeholder:
    """`${task:<task>:<kind>}` (an upstream task's output), or with `kind` "file"
    `${file:<task>}`, where `task` is then the path of a local file relative to the
    storyboard's folder."""

    task: str
    kind: TaskOutput | Literal["file"]

    @classmethod
    def frame(cls, task: str, which: str) -> Placeholder:
        """The first or last frame (`which`: "first" or "last") of `task`'s clip."""
        if which not in FRAMES:
            raise ValueError(f"no frame {which!r}: first or last")
        return cls(task, FRAMES[which])

    @classmethod
    def file(cls, path: str) -> Placeholder:
        return cls(path, FILE)

    @property
    def is_file(self) -> bool:
        return self.kind == FILE

    def format(self) -> str:
        if self.is_file:
            return f"${{file:{self.task}}}"
        return f"${{task:{self.task}:{self.kind}}}"

    @classmethod
    def parse(cls, text: str) -> Placeholder | None:
        """The placeholder that `text` is in full, or None (a URL, Base64, a prompt,
        or a `${...}` of a kind this tool never writes)."""
        match = PATTERN.fullmatch(text)
        if match is None:
            return None
        return _from_match(match)


def _from_match(match: re.Match[str]) -> Placeholder | None:
    family, body = match.group(1), match.group(2)
    if family == FILE:
        return Placeholder.file(body)
    task, _, kind = body.partition(":")
    output = TASK_OUTPUTS.get(kind)
    return Placeholder(task, output) if output is not None else None


def find(node: Any) -> Iterator[Placeholder]:
    """Every placeholder held by a string anywhere in `node` (a payload's JSON),
    in document order."""
    if isinstance(node, str):
        for match in PATTERN.finditer(node):
            found = _from_match(match)
            if found is not None:
                yield found
    elif isinstance(node, dict):
        for value in node.values():
            yield from find(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from find(value)


def substitute(text: str, replace: Callable[[Placeholder], str | None]) -> str:
    """`text` with each placeholder that `replace` maps to a string replaced by it
    (None keeps the placeholder as written)."""

    def swap(match: re.Match[str]) -> str:
        found = _from_match(match)
        new = replace(found) if found is not None else None
        return match.group(0) if new is None else new

    return PATTERN.sub(swap, text)
