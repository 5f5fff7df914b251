"""The checks that run before a filter, a global, a method or an operator grows a value.

Each growing operation of a prompt is refused from the sizes of its operands,
before it runs (a `center` width, a `join` of a huge list, `'x' * 10**9`, an
integer of a million bits), and what it returns is weighed again: see budget.py
for the weights and the work they charge.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from jinja2.utils import generate_lorem_ipsum

from storyboard.bounds import MAX_INT_BITS, MAX_POWER, MAX_RANGE, MAX_RENDERED_CHARS
from storyboard.compile.budget import (
    check_percent,
    check_result,
    check_width,
    current_budget,
    too_big,
    weigh,
    weight,
)
from storyboard.errors import TemplateBound


# --- filters and globals -------------------------------------------------------------
def _arg(values: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    return values[i] if len(values) > i else kwargs.get(name, default)


def _lines(text: object) -> int:
    return str(text).count("\n") + 1


def _center(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    check_width(_arg(values, kwargs, 1, "width", 80), "center")


def _indent(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    width = _arg(values, kwargs, 1, "width", 4)
    step = len(width) if isinstance(width, str) else check_width(width, "indent")
    if weight(values[0]) + _lines(values[0]) * step > MAX_RENDERED_CHARS:
        raise too_big("indent")


def _wordwrap(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    width = check_width(_arg(values, kwargs, 1, "width", 79), "wordwrap")
    wrap = _arg(values, kwargs, 3, "wrapstring", None) or "\n"
    size = weight(values[0])
    lines = 2 * size // max(width, 1) + _lines(values[0]) + 1
    if size + lines * weight(wrap) > MAX_RENDERED_CHARS:
        raise too_big("wordwrap")


def _join(values: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    items = list(values[0]) if not isinstance(values[0], str | dict) else values[0]
    sep = _arg(values, kwargs, 1, "d", "")
    if weigh(items, "join") + len(items) * weight(sep) > MAX_RENDERED_CHARS:
        raise too_big("join")
    return (items, *values[1:])


def _replace_size(text: str, old: object, new: object, count: object) -> int:
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _replace(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    text = str(values[0])
    count = _arg(values, kwargs, 3, "count", None)
    if _replace_size(text, values[1], values[2], count) > MAX_RENDERED_CHARS:
        raise too_big("replace")


def _format(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    check_percent(str(values[0]), kwargs or values[1:])


def _batch(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    current_budget().spend(check_width(_arg(values, kwargs, 1, "linecount", 0), "batch"))


def _slice(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    current_budget().spend(check_width(_arg(values, kwargs, 1, "slices", 0), "slice"))


def _sum(values: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    start = _arg(values, kwargs, 2, "start", 0)
    if isinstance(start, int | float):
        return values
    items = list(values[0])  # sequences add up in quadratic time: charge it
    weigh(items, "sum")
    current_budget().spend(len(items) * (weight(items) + weight(start)))
    return (items, *values[1:])


def _tojson(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    indent = _arg(values, kwargs, 1, "indent", None)
    step = len(indent) if isinstance(indent, str) else check_width(indent, "tojson")
    if step and weight(values[0]) * (step + 1) * 8 > MAX_RENDERED_CHARS:
        raise too_big("tojson")


Guard = Callable[[tuple[Any, ...], dict[str, Any]], tuple[Any, ...] | None]
GUARDS: dict[str, Guard] = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "join": _join,
    "replace": _replace,
    "format": _format,
    "batch": _batch,
    "slice": _slice,
    "sum": _sum,
    "tojson": _tojson,
}


def bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, its operands weighed and its growth checked before it runs."""
    passes = getattr(func, "jinja_pass_arg", None) is not None
    guard = GUARDS.get(name)

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        head, values = (args[:1], args[1:]) if passes else ((), args)
        for value in (*values, *kwargs.values()):
            weigh(value, name)
        if guard is not None and values:
            values = guard(values, kwargs) or values
        result = func(*head, *values, **kwargs)
        check_result(result, name)
        return result

    return bounded


def bounded_range(*args: int) -> range:
    """`range`, refused past MAX_RANGE numbers before any loop walks it."""
    numbers = range(*args)
    try:
        length = len(numbers)
    except OverflowError:  # longer than sys.maxsize
        length = MAX_RANGE + 1
    if length > MAX_RANGE:
        raise TemplateBound(f"range of more than {MAX_RANGE} numbers")
    return numbers


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """`lipsum`, refused when its largest output would pass the bound."""
    if not all(isinstance(v, int) for v in (n, min, max)):
        raise TypeError("lipsum takes whole numbers")
    if n * max * 15 > MAX_RENDERED_CHARS:
        raise too_big("lipsum")
    return generate_lorem_ipsum(n, html, min, max)


# --- methods of builtin values -------------------------------------------------------
def check_method(owner: object, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Refuse a str/bytes/int method call whose result would be too large; return its args."""
    if isinstance(owner, str | bytes | bytearray):
        if name in ("center", "ljust", "rjust", "zfill") and args:
            check_width(args[0], name)
        elif name == "expandtabs":
            tab = check_width(args[0] if args else 8, name)
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            if len(owner) + tabs * tab > MAX_RENDERED_CHARS:
                raise too_big(name)
        elif name == "join" and args:
            items = list(args[0])
            if weigh(items, name) + len(items) * len(owner) > MAX_RENDERED_CHARS:
                raise too_big(name)
            return (items, *args[1:])
        elif name == "replace" and isinstance(owner, str) and len(args) >= 2:
            count = args[2] if len(args) > 2 else -1
            if _replace_size(owner, args[0], args[1], count) > MAX_RENDERED_CHARS:
                raise too_big(name)
        elif name == "translate" and isinstance(owner, str) and args:
            table = args[0]
            if not isinstance(table, dict):
                raise TemplateBound("translate takes a dict in a prompt")
            longest = max((weight(v) for v in table.values()), default=1)
            if len(owner) * max(longest, 1) > MAX_RENDERED_CHARS:
                raise too_big(name)
    elif isinstance(owner, int) and name == "to_bytes" and args:
        check_width(args[0], name)
    return args


# --- operators -------------------------------------------------------------------
def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `+ - * ** %` whose result would pass a bound, from the operands' sizes."""
    ints = isinstance(left, int) and isinstance(right, int)
    if operator in ("+", "-") and ints:
        if max(left.bit_length(), right.bit_length()) >= MAX_INT_BITS:
            raise TemplateBound(f"integer passes {MAX_INT_BITS} bits")
    elif operator == "+":
        if weigh(left, "'+'") + weigh(right, "'+'") > MAX_RENDERED_CHARS:
            raise too_big("'+'")
    elif operator == "*" and ints:
        if left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
            raise TemplateBound(f"integer passes {MAX_INT_BITS} bits")
    elif operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(count, int) and not isinstance(seq, int | float) and count > 0:
                if weight(seq, MAX_RENDERED_CHARS // count) * count > MAX_RENDERED_CHARS:
                    raise too_big("'*'")
                current_budget().spend(weigh(seq, "'*'") * count)
    elif operator == "**":
        if isinstance(right, int | float) and abs(right) > MAX_POWER:
            raise TemplateBound(f"power {right} passes {MAX_POWER}")
        if ints and right > 0 and (abs(left).bit_length() - 1) * right >= MAX_INT_BITS:
            raise TemplateBound(f"integer passes {MAX_INT_BITS} bits")
    elif operator == "%" and isinstance(left, str):
        check_percent(left, right)
