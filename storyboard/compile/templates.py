"""Prompt templates: one sandboxed Jinja2 environment for lint and compile.

Prompts see `vars`, every asset name, `scene` and `shot`. An asset renders
as its named marker `<<<name>>>`, so `{{ keeper }}` and `<<<keeper>>>` mean
the same thing to the reference resolver that runs after rendering.
The sandbox (sandbox.py) refuses attribute tricks and bounds the engine
itself: output, loops, calls, integers and widths, checked before memory is
taken, so a prompt from a stranger's pull request cannot exhaust the runner.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from storyboard.bounds import MAX_TEMPLATE_CHARS
from storyboard.compile import sandbox
from storyboard.compile.sandbox import BoundedSandbox
from storyboard.errors import TemplateBound, TemplateFailure

NAMED_REF = re.compile(r"<<<([A-Za-z_][A-Za-z0-9_]*)>>>")


@functools.cache
def environment() -> SandboxedEnvironment:
    return BoundedSandbox()


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
    return environment().from_string(source)


def render_prompt(source: str, context: dict[str, Any]) -> str:
    """Render one prompt template; raise TemplateFailure with a reason and a place."""
    try:
        if len(source) > MAX_TEMPLATE_CHARS:
            raise TemplateBound(f"prompt template passes {MAX_TEMPLATE_CHARS} characters")
        with sandbox.budget():  # constant folding at compile time runs filters too
            template = _compile(source)
        return sandbox.render(template, context)
    except TemplateSyntaxError as exc:
        raise TemplateFailure(
            "syntax", f"template syntax error: {exc.message}", exc.lineno or 1
        ) from None
    except UndefinedError as exc:
        message = str(exc.message or exc)
        match = re.search(r"'([^']+)' is undefined", message)
        needle = match.group(1) if match else None
        raise TemplateFailure("undefined", message, needle=needle) from None
    except TemplateBound as exc:
        raise TemplateFailure("sandbox", str(exc)) from None
    except SecurityError as exc:
        raise TemplateFailure("sandbox", f"unsafe template: {exc}") from None
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateFailure("error", f"template error: {exc}") from None
    except RecursionError:
        raise TemplateFailure("error", "template recursion too deep") from None


def prompt_context(
    variables: dict[str, Any], asset_names: list[str], scene: dict[str, Any], shot: dict[str, Any]
) -> dict[str, Any]:
    """The names a prompt sees: vars, then assets (as markers), then scene and shot."""
    context = dict(variables)
    context.update({name: f"<<<{name}>>>" for name in asset_names})
    context["scene"] = scene
    context["shot"] = shot
    return context
