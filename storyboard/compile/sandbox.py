"""The bounded Jinja sandbox that prompts render in.

Lint runs on strangers' files, so every operation of a prompt that can grow
a value is checked *before* it runs (guards.py), every loop pass, call and
`~` is charged to the render's budget (budget.py), and the output is counted
while it is generated. Past a bound of bounds.py the render stops with
`TemplateBound`. This module wires those checks into Jinja: its code
generator, its environment, its `str.format`.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.runtime import BlockReference, LoopContext, Macro
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter
from markupsafe import EscapeFormatter, Markup

from storyboard.bounds import MAX_RENDERED_CHARS
from storyboard.compile.budget import (
    budget,
    check_int,
    check_result,
    current_budget,
    spec_width,
    too_big,
    weigh,
    weight,
)
from storyboard.compile.guards import (
    bounded_filter,
    bounded_lipsum,
    bounded_range,
    check_binop,
    check_method,
)
from storyboard.errors import TemplateBound

# What callers take from here: the environment, the render, and the budget it runs in.
__all__ = ["BoundedSandbox", "TemplateBound", "budget", "render"]


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


# --- str.format --------------------------------------------------------------------
class _BoundedFormatter(SandboxedFormatter):
    """Checks every field's spec and counts the output before the field is formatted."""

    def __init__(self, env: SandboxedEnvironment, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.size = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        self.size += spec_width(format_spec, "format") + 330 + weigh(value, "format")
        if self.size > MAX_RENDERED_CHARS:
            raise too_big("format")
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    pass


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
    """SandboxedEnvironment with every growing operation checked against bounds.py."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            finalize=_finalize,
        )
        self.filters = {name: bounded_filter(name, f) for name, f in self.filters.items()}
        self.globals["range"] = bounded_range
        self.globals["lipsum"] = bounded_lipsum

    @staticmethod
    def counted(iterable: Iterable[Any], cost: int) -> Iterator[Any]:
        spend = current_budget()
        for item in iterable:
            spend.iterate(cost)
            yield item

    @staticmethod
    def concat_parts(parts: tuple[Any, ...]) -> tuple[Any, ...]:
        if sum(weigh(part, "'~'") for part in parts) > MAX_RENDERED_CHARS:
            raise too_big("'~'")
        return parts

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        check_result(result, repr(operator))
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        current_budget().call()
        passed = [*args, *(v for k, v in kwargs.items() if k not in _FRAME_KWARGS)]
        for value in passed:
            if isinstance(value, _RUNS_TEMPLATE_CODE) and not isinstance(__obj, Macro):
                raise TemplateBound("a macro can only be called from the template")
            weigh(value, "call")
        owner = getattr(__obj, "__self__", None)
        if isinstance(__obj, types.BuiltinMethodType | types.MethodType) and owner is not None:
            weigh(owner, __obj.__name__)
            args = check_method(owner, __obj.__name__, args)
        result = super().call(__context, __obj, *args, **kwargs)
        check_result(result, "call")
        if isinstance(owner, list | dict | set):  # append, extend, update grow their owner
            check_result(owner, getattr(__obj, "__name__", "call"))
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
    current_budget().spend(size + 1)
    if size > MAX_RENDERED_CHARS:
        raise TemplateBound(f"prompt output passes {MAX_RENDERED_CHARS} characters")
    check_int(value)
    return value
