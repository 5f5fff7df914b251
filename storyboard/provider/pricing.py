"""What a task will cost, before it is sent.

Prices are not part of the API contract (API.md "Not specified"): the
defaults below are public list prices per output second, kept only so the
plan can show an estimate and `--max-cost` can refuse a plan. The bill is
whatever the provider reports as `usage.cost` (S4). Override the table with
a JSON or TOML file, given by path or by the `STORYBOARD_PRICES` variable::

    # prices.toml (USD per output second; missing keys keep their default)
    std = 0.084
    std_sound = 0.112
    pro = 0.112
    pro_sound = 0.140
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from storyboard.errors import EnvironmentProblem, PricingError
from storyboard.provider import api
from storyboard.provider.config import override_file, read_overrides
from storyboard.provider.shape import edits_base

PRICES_ENV = "STORYBOARD_PRICES"


@dataclass(frozen=True)
class PriceTable:
    """USD per output second for each mode (R17), silent or with sound (R16)."""

    std: float = 0.084
    std_sound: float = 0.112
    pro: float = 0.112
    pro_sound: float = 0.140

    def per_second(self, mode: str, sound: bool) -> float:
        """The price of one output second in `mode`, with or without sound."""
        if mode not in api.MODES:
            raise PricingError(f"R17: unknown mode {mode!r}")
        return float(getattr(self, f"{mode}_sound" if sound else mode))


DEFAULT_PRICES = PriceTable()


def load_prices(path: str | os.PathLike[str] | None = None) -> PriceTable:
    """The price table: defaults, overridden by `path` or else `$STORYBOARD_PRICES`.

    The file holds the keys of `PriceTable` at its top level or under a
    `prices` table; unknown keys and non-numbers are refused, because a typo
    in a price file would otherwise silently leave the default in force.
    """
    file = override_file(path, PRICES_ENV)
    if file is None:
        return DEFAULT_PRICES
    data = read_overrides(file, "price table", "prices", "prices")
    known = {f.name for f in fields(PriceTable)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise EnvironmentProblem(
            f"price table {file}: unknown keys {unknown}; expected some of {sorted(known)}"
        )
    values: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise EnvironmentProblem(f"price table {file}: {key} must be a non-negative number")
        values[key] = float(value)
    return replace(DEFAULT_PRICES, **values)


def billed_seconds(payload: Mapping[str, Any], source_seconds: float | None = None) -> int:
    """Output seconds the provider bills for this payload.

    A base edit (R15) is billed on its input video's length rounded to the
    nearest second (halves round up), which only the caller can know; every
    other task on its `duration` (R19 default when absent).
    """
    if edits_base(payload.get("video_list") or []):
        if source_seconds is None:
            raise PricingError(
                "R15: a base edit is billed on its source length; pass source_seconds"
            )
        return math.floor(source_seconds + 0.5)
    duration = payload.get("duration", str(api.DEFAULT_TASK_SECONDS))
    if not str(duration).isdigit():
        raise PricingError(f"R19: duration {duration!r} is not whole seconds")
    return int(duration)


def estimate_cost(
    payload: Mapping[str, Any],
    source_seconds: float | None = None,
    prices: PriceTable | None = None,
) -> float:
    """Estimated USD for one task: billed seconds x the price of its mode and sound.

    `mode` defaults to pro (R17) and `sound` to off (R16), as the API does.
    """
    table = prices if prices is not None else load_prices()
    mode = payload.get("mode", api.DEFAULT_MODE)
    sound = payload.get("sound", "off") == "on"
    return round(billed_seconds(payload, source_seconds) * table.per_second(mode, sound), 6)
