"""The bounded Jinja sandbox that prompts render in.

Jinja's SandboxedEnvironment stops attribute tricks, not a prompt that asks
for a gigabyte (`'x'|center(10**9)`) or a billion steps (nested loops, a
macro calling itself twice). Lint runs on strangers' files, so here every
operation that can grow a value is checked *before* it runs, from the sizes
of its operands (memory is never allocated to be measured), and a `Budget`
per render counts loop iterations, calls and work (characters and items
touched). Past a bound of limits.py the render stops with `TemplateBound`.

A value's size is its `weight`: an upper bound on the length of its text
that stops counting past the limit, so a list holding one list twice at
every level (2**40 items when printed) is never walked whole.
"""

from __future__ import annotations

import contextvars
import functools
import re
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.runtime import BlockReference, LoopContext, Macro, Undefined
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Namespace, generate_lorem_ipsum
from markupsafe import EscapeFormatter, Markup

from storyboard.bounds import (
    MAX_CALLS,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_LOOP_ITERATIONS,
    MAX_POWER,
    MAX_RANGE,
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
        yield _budget()
    finally:
        _CURRENT.reset(token)


def _budget() -> Budget:
    return _CURRENT.get() or Budget()  # outside a render: each operation alone is bounded


def render(template: Template, context: dict[str, Any]) -> str:
    """Render, stopping as soon as the output passes MAX_RENDERED_CHARS."""
    pieces: list[str] = []
    length = 0
    with budget():
        for piece in template.generate(context):
            length += len(piece)
            if length > MAX_RENDERED_CHARS:
                raise TemplateBound(f"prompt output passes {MAX_RENDERED_CHARS} characters")
            pieces.append(piece)
    return "".join(pieces)


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


def _too_big(what: str) -> TemplateBound:
    return TemplateBound(f"{what} would make more than {MAX_RENDERED_CHARS} characters")


def _check_int(value: object) -> None:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateBound(f"integer passes {MAX_INT_BITS} bits")


def _weigh(value: object, what: str) -> int:
    """Weigh an operand, charge the work of touching it, refuse it if too big."""
    size = weight(value)
    _budget().spend(size + 1)
    if size > MAX_RENDERED_CHARS:
        raise _too_big(what)
    _check_int(value)
    return size


def _check_result(value: object, what: str) -> None:
    if isinstance(value, int):
        _check_int(value)
    elif isinstance(value, str | list | tuple | dict | set | bytes):
        _weigh(value, what)


def _width(value: object, what: str) -> int:
    """A width or count that says how much to allocate: an int no larger than the bound."""
    if isinstance(value, int) and value > MAX_FORMAT_WIDTH:
        raise TemplateBound(f"{what} width {value} passes {MAX_FORMAT_WIDTH}")
    return value if isinstance(value, int) else 0


def _digits(spec: str, what: str) -> int:
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
    size = len(fmt) + _weigh(args, "'%'")
    for spec in _printf_widths(fmt):
        size += _digits(spec, "'%'") + 330  # a float's digits, a sign
    if size > MAX_RENDERED_CHARS:
        raise _too_big("'%'")


# --- str.format --------------------------------------------------------------------
class _BoundedFormatter(SandboxedFormatter):
    """Checks every field's spec and counts the output before the field is formatted."""

    def __init__(self, env: SandboxedEnvironment, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.size = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        self.size += _digits(format_spec, "format") + 330 + _weigh(value, "format")
        if self.size > MAX_RENDERED_CHARS:
            raise _too_big("format")
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    pass


# --- filters and globals -------------------------------------------------------------
def _arg(values: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    return values[i] if len(values) > i else kwargs.get(name, default)


def _lines(text: object) -> int:
    return str(text).count("\n") + 1


def _center(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _width(_arg(values, kwargs, 1, "width", 80), "center")


def _indent(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    width = _arg(values, kwargs, 1, "width", 4)
    step = len(width) if isinstance(width, str) else _width(width, "indent")
    if weight(values[0]) + _lines(values[0]) * step > MAX_RENDERED_CHARS:
        raise _too_big("indent")


def _wordwrap(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    width = _width(_arg(values, kwargs, 1, "width", 79), "wordwrap")
    wrap = _arg(values, kwargs, 3, "wrapstring", None) or "\n"
    size = weight(values[0])
    lines = 2 * size // max(width, 1) + _lines(values[0]) + 1
    if size + lines * weight(wrap) > MAX_RENDERED_CHARS:
        raise _too_big("wordwrap")


def _join(values: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    items = list(values[0]) if not isinstance(values[0], str | dict) else values[0]
    sep = _arg(values, kwargs, 1, "d", "")
    if _weigh(items, "join") + len(items) * weight(sep) > MAX_RENDERED_CHARS:
        raise _too_big("join")
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
        raise _too_big("replace")


def _format(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    check_percent(str(values[0]), kwargs or values[1:])


def _batch(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _budget().spend(_width(_arg(values, kwargs, 1, "linecount", 0), "batch"))


def _slice(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _budget().spend(_width(_arg(values, kwargs, 1, "slices", 0), "slice"))


def _sum(values: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    start = _arg(values, kwargs, 2, "start", 0)
    if isinstance(start, int | float):
        return values
    items = list(values[0])  # sequences add up in quadratic time: charge it
    _weigh(items, "sum")
    _budget().spend(len(items) * (weight(items) + weight(start)))
    return (items, *values[1:])


def _tojson(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    indent = _arg(values, kwargs, 1, "indent", None)
    step = len(indent) if isinstance(indent, str) else _width(indent, "tojson")
    if step and weight(values[0]) * (step + 1) * 8 > MAX_RENDERED_CHARS:
        raise _too_big("tojson")


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


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, its operands weighed and its growth checked before it runs."""
    passes = getattr(func, "jinja_pass_arg", None) is not None
    guard = GUARDS.get(name)

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        head, values = (args[:1], args[1:]) if passes else ((), args)
        for value in (*values, *kwargs.values()):
            _weigh(value, name)
        if guard is not None and values:
            values = guard(values, kwargs) or values
        result = func(*head, *values, **kwargs)
        _check_result(result, name)
        return result

    return bounded


def _range(*args: int) -> range:
    numbers = range(*args)
    try:
        length = len(numbers)
    except OverflowError:  # longer than sys.maxsize
        length = MAX_RANGE + 1
    if length > MAX_RANGE:
        raise TemplateBound(f"range of more than {MAX_RANGE} numbers")
    return numbers


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if not all(isinstance(v, int) for v in (n, min, max)):
        raise TypeError("lipsum takes whole numbers")
    if n * max * 15 > MAX_RENDERED_CHARS:
        raise _too_big("lipsum")
    return generate_lorem_ipsum(n, html, min, max)


# --- methods of builtin values -------------------------------------------------------
def _check_method(owner: object, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Refuse a str/bytes/int method call whose result would be too large; return its args."""
    if isinstance(owner, str | bytes | bytearray):
        if name in ("center", "ljust", "rjust", "zfill") and args:
            _width(args[0], name)
        elif name == "expandtabs":
            tab = _width(args[0] if args else 8, name)
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            if len(owner) + tabs * tab > MAX_RENDERED_CHARS:
                raise _too_big(name)
        elif name == "join" and args:
            items = list(args[0])
            if _weigh(items, name) + len(items) * len(owner) > MAX_RENDERED_CHARS:
                raise _too_big(name)
            return (items, *args[1:])
        elif name == "replace" and isinstance(owner, str) and len(args) >= 2:
            count = args[2] if len(args) > 2 else -1
            if _replace_size(owner, args[0], args[1], count) > MAX_RENDERED_CHARS:
                raise _too_big(name)
        elif name == "translate" and isinstance(owner, str) and args:
            table = args[0]
            if not isinstance(table, dict):
                raise TemplateBound("translate takes a dict in a prompt")
            longest = max((weight(v) for v in table.values()), default=1)
            if len(owner) * max(longest, 1) > MAX_RENDERED_CHARS:
                raise _too_big(name)
    elif isinstance(owner, int) and name == "to_bytes" and args:
        _width(args[0], name)
    return args


_RUNS_TEMPLATE_CODE = (Macro, BlockReference, LoopContext)
_FRAME_KWARGS = ("_loop_vars", "_block_vars")  # Jinja's own, passed along with every call


# --- the code generator: loops counted, `~` weighed ------------------------------------
class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with each loop's items counted and every `~` weighed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_costs: dict[int, int] = {}  # id of a for loop's iterable node -> cost

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        cost = self._loop_costs.get(id(node))
        if cost is None:
            return super().visit(node, *args, **kwargs)
        self.write("environment.counted(")
        super().visit(node, *args, **kwargs)
        self.write(f", {cost})")
        return None

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if node.recursive:
            raise TemplateBound("recursive loops are not allowed in prompts")
        inner = [n for top in node.body + node.else_ for n in (top, *top.find_all(nodes.Node))]
        text = sum(len(n.data) for n in inner if isinstance(n, nodes.TemplateData))
        self._loop_costs[id(node.iter)] = 1 + len(inner) + text  # what one pass may touch
        super().visit_For(node, frame)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"{func_name}(environment.concat_parts((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


# --- the environment ----------------------------------------------------------------
class BoundedSandbox(SandboxedEnvironment):
    """SandboxedEnvironment with every growing operation checked against limits.py."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            finalize=_finalize,
        )
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.globals["range"] = _range
        self.globals["lipsum"] = _lipsum

    @staticmethod
    def counted(iterable: Iterable[Any], cost: int) -> Iterator[Any]:
        spend = _budget()
        for item in iterable:
            spend.iterate(cost)
            yield item

    @staticmethod
    def concat_parts(parts: tuple[Any, ...]) -> tuple[Any, ...]:
        if sum(_weigh(part, "'~'") for part in parts) > MAX_RENDERED_CHARS:
            raise _too_big("'~'")
        return parts

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        _check_result(result, repr(operator))
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget().call()
        passed = [*args, *(v for k, v in kwargs.items() if k not in _FRAME_KWARGS)]
        for value in passed:
            if isinstance(value, _RUNS_TEMPLATE_CODE) and not isinstance(__obj, Macro):
                raise TemplateBound("a macro can only be called from the template")
            _weigh(value, "call")
        owner = getattr(__obj, "__self__", None)
        if isinstance(__obj, types.BuiltinMethodType | types.MethodType) and owner is not None:
            _weigh(owner, __obj.__name__)
            args = _check_method(owner, __obj.__name__, args)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_result(result, "call")
        if isinstance(owner, list | dict | set):  # append, extend, update grow their owner
            _check_result(owner, getattr(__obj, "__name__", "call"))
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's str.format wrapper, with a formatter that bounds widths and output."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        f_self = value.__self__
        if not isinstance(f_self, str):
            return None
        str_type = type(f_self)
        is_format_map = value.__name__ == "format_map"
        env = self

        def wrapper(*args: Any, **kwargs: Any) -> str:
            formatter: _BoundedFormatter
            if isinstance(f_self, Markup):
                formatter = _BoundedEscapeFormatter(env, escape=f_self.escape)
            else:
                formatter = _BoundedFormatter(env)
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs = args[0]
                args = ()
            return str_type(formatter.vformat(f_self, args, kwargs))

        return functools.update_wrapper(wrapper, value)


def _finalize(value: Any) -> Any:
    """Every `{{ }}` output, weighed before it becomes text (into the output or a buffer)."""
    size = weight(value)
    _budget().spend(size + 1)
    if size > MAX_RENDERED_CHARS:
        raise TemplateBound(f"prompt output passes {MAX_RENDERED_CHARS} characters")
    _check_int(value)
    return value


def _check_binop(operator: str, left: Any, right: Any) -> None:
    ints = isinstance(left, int) and isinstance(right, int)
    if operator in ("+", "-") and ints:
        if max(left.bit_length(), right.bit_length()) >= MAX_INT_BITS:
            raise TemplateBound(f"integer passes {MAX_INT_BITS} bits")
    elif operator == "+":
        if _weigh(left, "'+'") + _weigh(right, "'+'") > MAX_RENDERED_CHARS:
            raise _too_big("'+'")
    elif operator == "*" and ints:
        if left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
            raise TemplateBound(f"integer passes {MAX_INT_BITS} bits")
    elif operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(count, int) and not isinstance(seq, int | float) and count > 0:
                if weight(seq, MAX_RENDERED_CHARS // count) * count > MAX_RENDERED_CHARS:
                    raise _too_big("'*'")
                _budget().spend(_weigh(seq, "'*'") * count)
    elif operator == "**":
        if isinstance(right, int | float) and abs(right) > MAX_POWER:
            raise TemplateBound(f"power {right} passes {MAX_POWER}")
        if ints and right > 0 and (abs(left).bit_length() - 1) * right >= MAX_INT_BITS:
            raise TemplateBound(f"integer passes {MAX_INT_BITS} bits")
    elif operator == "%" and isinstance(left, str):
        check_percent(left, right)
