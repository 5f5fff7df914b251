"""Takes: several generations of one task, addressed as `TASK@K`.

A task with `takes: N` is N requests for the same payload. Take 1 is the task
itself (its id, its external id, its cache entry and journal record are what
they were before takes existed, so old caches and journals stay valid); take
k > 1 is `TASK@k` everywhere: in commands and messages, the journal, the
build's `clips/TASK@k.mp4`, and its own cache entry. `TASK@1` and `TASK` name
the same take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TAKES = 20  # what `takes:` allows per task in the storyboard
ADDRESS = re.compile(r"(?P<task>[^@\s]+)@(?P<take>[0-9]+)")


@dataclass(frozen=True, order=True)
class Take:
    """One generation of one task."""

    task: str
    number: int = 1

    def __post_init__(self) -> None:
        if self.number < 1:
            raise ValueError(f"take numbers start at 1, not {self.number}")

    @property
    def label(self) -> str:
        """The take's name in files, the journal and events: the task id for take 1
        (as before takes existed), `TASK@k` after it."""
        return self.task if self.number == 1 else f"{self.task}@{self.number}"

    @property
    def address(self) -> str:
        """`TASK@K`, as tables and messages show every take."""
        return f"{self.task}@{self.number}"

    def __str__(self) -> str:
        return self.address

    @classmethod
    def parse(cls, text: str) -> Take:
        """`TASK@K` or a bare `TASK` (take 1). Raises ValueError on `TASK@0`, `TASK@x`."""
        if "@" not in text:
            return cls(text, 1)
        match = ADDRESS.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not TASK@K (a task id, @, a take number)")
        return cls(match["task"], int(match["take"]))


def take_suffix(number: int) -> str:
    """What take `number` appends to its task's external id and cache entry name
    (nothing for take 1)."""
    return "" if number == 1 else f"-t{number}"


def upstream_identity(cache_key: str, number: int) -> str:
    """What a dependant's cache key holds for the take of an upstream task it is
    built from: the upstream key alone for take 1 (the key it held before takes),
    the key and the take after that. Re-picking an upstream take therefore changes
    exactly the keys of what depends on it."""
    return cache_key + take_suffix(number)
