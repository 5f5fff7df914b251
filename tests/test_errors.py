"""One exception tree: every exception class the package defines for others to
catch lives in storyboard/errors.py and descends from StoryboardError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import storyboard
from storyboard import errors
from storyboard.errors import PricingError, StoryboardError, TemplateBound, TemplateFailure
from storyboard.provider.pricing import DEFAULT_PRICES, billed_seconds


def public_exceptions() -> list[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for info in pkgutil.walk_packages(storyboard.__path__, "storyboard."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__.startswith("storyboard")
                and not name.startswith("_")  # a module's own control flow, never let out
            ):
                found.add(value)
    return sorted(found, key=lambda c: c.__qualname__)


def test_every_public_exception_is_in_errors_py_under_the_root() -> None:
    exceptions = public_exceptions()
    assert TemplateFailure in exceptions and TemplateBound in exceptions
    for cls in exceptions:
        assert cls.__module__ == errors.__name__, cls
        # An interrupt is no error: it is a KeyboardInterrupt that every handler of
        # our errors lets through (errors.Interrupted says what a run left).
        assert issubclass(cls, StoryboardError) or cls is errors.Interrupted, cls
        assert (cls.__doc__ or "").strip(), f"{cls.__name__} says when it happens"


def test_pricing_refuses_with_its_own_error() -> None:
    with pytest.raises(PricingError, match="R19"):
        billed_seconds({"duration": "4.5"})
    with pytest.raises(PricingError, match="R17"):
        DEFAULT_PRICES.per_second("ultra", sound=False)
