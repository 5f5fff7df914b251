"""What one prompt's render may spend, and how a value is measured before it grows.

Jinja's SandboxedEnvironment stops attribute tricks, not a prompt that asks
for a gigabyte (`'x'|center(10**9)`) or a billion steps (nested loops, a
macro calling itself twice). A `Budget` per render counts loop iterations,
calls and work (characters and items touched), and one shared budget bounds
all the prompts of a storyboard together. Past a bound of bounds.py the render
stops with `TemplateBound`.

A value's size is its `weight`: an upper bound on the length of its text
that stops counting past the limit, so a list holding one list twice at
every level (2**40 items when printed) is never walked whole. Memory is never
allocated to be measured: `weigh` and the checks below look at operands only.
"""

from __future__ import annotations

import contextvars
import re
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from jinja2.runtime import Undefined
from jinja2.utils import Namespace

from storyboard.bounds import (
    MAX_CALLS,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_LOOP_ITERATIONS,
    MAX_RENDERED_CHARS,
    MAX_STORYBOARD_WORK,
    MAX_TEMPLATE_WORK,
)
from storyboard.errors import TemplateBound


# --- the budget of one render ------------------------------------------------------
@dataclass
class Budget:
    """What one render has spent; each count is refused one past its bound."""

    iterations: int = 0
    calls: int = 0
    work: int = 0

    def spend(self, units: int) -> None:
        self.work += units
        if self.work > MAX_TEMPLATE_WORK:
            raise TemplateBound(f"prompt does more than {MAX_TEMPLATE_WORK} steps of work")
        total = _STORYBOARD.get()
        if total is not None:
            total[0] += units
            if total[0] > MAX_STORYBOARD_WORK:
                raise TemplateBound(
                    f"the storyboard's prompts together do more than {MAX_STORYBOARD_WORK} "
                    "steps of work"
                )

    def iterate(self, cost: int) -> None:
        self.iterations += 1
        if self.iterations > MAX_LOOP_ITERATIONS:
            raise TemplateBound(f"loop runs more than {MAX_LOOP_ITERATIONS} times")
        self.spend(cost)

    def call(self) -> None:
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise TemplateBound(f"prompt makes more than {MAX_CALLS} calls")
        self.spend(1)


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("budget", default=None)
# The work of every prompt of one storyboard, so that thousands of prompts each just
# under the bounds of one still cannot add up to minutes of a CI runner's time.
_STORYBOARD: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "storyboard_work", default=None
)


@contextmanager
def storyboard_budget() -> Iterator[None]:
    """One budget of work shared by all the prompts rendered inside (one storyboard)."""
    token = _STORYBOARD.set([0])
    try:
        yield
    finally:
        _STORYBOARD.reset(token)


@contextmanager
def budget() -> Iterator[Budget]:
    """A fresh budget for what runs inside (one render, or one compile's constant folding)."""
    token = _CURRENT.set(Budget())
    try:
        yield current_budget()
    finally:
        _CURRENT.reset(token)


def current_budget() -> Budget:
    """The budget of the render running now, which every check charges."""
    return _CURRENT.get() or Budget()  # outside a render: each operation alone is bounded


# --- sizes --------------------------------------------------------------------------
def weight(value: object, limit: int = MAX_RENDERED_CHARS) -> int:
    """An upper bound on len(str(value)) (escapes aside), counted no further than past `limit`."""
    if isinstance(value, str):
        return len(value)
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 4  # quotes, comma, space
        elif isinstance(item, bytes | bytearray):
            total += 4 * len(item) + 3
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 25
        elif isinstance(item, Namespace):
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        elif isinstance(item, dict):
            total += 2 + 2 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset | types.MappingProxyType):
            total += 2 + len(item)
            stack.extend(item)
        elif isinstance(item, range | Undefined):
            total += 40
        else:  # macros, loops, generators, methods: their text is a short repr
            total += 100
    return total


def too_big(what: str) -> TemplateBound:
    """The refusal of an operation whose result would pass MAX_RENDERED_CHARS."""
    return TemplateBound(f"{what} would make more than {MAX_RENDERED_CHARS} characters")


def check_int(value: object) -> None:
    """Refuse an integer too long to print or multiply cheaply."""
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateBound(f"integer passes {MAX_INT_BITS} bits")


def weigh(value: object, what: str) -> int:
    """Weigh an operand, charge the work of touching it, refuse it if too big."""
    size = weight(value)
    current_budget().spend(size + 1)
    if size > MAX_RENDERED_CHARS:
        raise too_big(what)
    check_int(value)
    return size


def check_result(value: object, what: str) -> None:
    """Weigh what an operation returned: its operands may have been small."""
    if isinstance(value, int):
        check_int(value)
    elif isinstance(value, str | list | tuple | dict | set | bytes):
        weigh(value, what)


def check_width(value: object, what: str) -> int:
    """A width or count that says how much to allocate: an int no larger than the bound."""
    if isinstance(value, int) and value > MAX_FORMAT_WIDTH:
        raise TemplateBound(f"{what} width {value} passes {MAX_FORMAT_WIDTH}")
    return value if isinstance(value, int) else 0


def spec_width(spec: str, what: str) -> int:
    """The largest number written in a format spec (its width or precision)."""
    largest = 0
    for run in re.findall(r"\d+", spec):
        if len(run) > len(str(MAX_FORMAT_WIDTH)) or int(run) > MAX_FORMAT_WIDTH:
            raise TemplateBound(f"{what} width {run[:12]} passes {MAX_FORMAT_WIDTH}")
        largest = max(largest, int(run))
    return largest


def _printf_widths(fmt: str) -> Iterator[str]:
    """The width and precision text of each `%` conversion, parsed as CPython parses it."""
    i, n = 0, len(fmt)
    while (i := fmt.find("%", i)) != -1:
        i += 1
        if i < n and fmt[i] == "(":  # a mapping key, parentheses nested
            depth = 0
            while i < n:
                depth += {"(": 1, ")": -1}.get(fmt[i], 0)
                i += 1
                if depth == 0:
                    break
        while i < n and fmt[i] in "-+ #0":
            i += 1
        start = i
        while i < n and (fmt[i] in "0123456789*" or (fmt[i] == "." and "." not in fmt[start:i])):
            i += 1
        if "*" in fmt[start:i]:
            raise TemplateBound("'*' widths are not allowed in '%' formatting")
        yield fmt[start:i]
        i += 1  # the conversion character ('%' included)


def check_percent(fmt: str, args: object) -> None:
    """Refuse `fmt % args` before it runs if its widths or its result are too large."""
    size = len(fmt) + weigh(args, "'%'")
    for spec in _printf_widths(fmt):
        size += spec_width(spec, "'%'") + 330  # a float's digits, a sign
    if size > MAX_RENDERED_CHARS:
        raise too_big("'%'")
