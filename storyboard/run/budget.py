"""`--max-cost` while a run spends: what is billed plus what is in flight, checked
before every create.

One interface, two ledgers. `LocalBudget` is one process's (the executor's
own, by default); a ledger shared through a database (`storyboard.fleet.budget`)
holds one cap for every worker of a render. A take *in flight* counts at its list
price until the provider bills it, then at its bill; a take that ends without a
bill (it failed, or was lost) stops counting.
"""

from __future__ import annotations

from typing import Protocol

from storyboard.errors import BudgetRefused

__all__ = ["Budget", "BudgetRefused", "LocalBudget", "refusal"]


class Budget(Protocol):
    def hold(self, label: str, estimate: float) -> None:
        """Count `label` in flight at `estimate` (a take re-attached, or sent)."""

    def reserve(self, label: str, estimate: float) -> None:
        """Count `label` in flight if the cap allows it; else raise BudgetRefused."""

    def bill(self, label: str, cost: float) -> None:
        """The provider billed `cost` for `label`: it counts at that from now on."""

    def release(self, label: str) -> None:
        """`label` is no longer in flight (finished, failed or stopped)."""


def refusal(billed: float, in_flight: float, estimate: float, cap: float) -> str:
    return (
        f"budget: billed ${billed:.2f} + in flight ${in_flight:.2f}"
        f" + this task ${estimate:.2f} would pass --max-cost ${cap:.2f}"
    )


class LocalBudget:
    """One process's ledger: nothing is checked without a cap."""

    def __init__(self, cap: float | None) -> None:
        self.cap = cap
        self.billed = 0.0
        self.in_flight: dict[str, float] = {}

    def hold(self, label: str, estimate: float) -> None:
        self.in_flight[label] = estimate

    def reserve(self, label: str, estimate: float) -> None:
        self.in_flight.pop(label, None)
        flying = sum(self.in_flight.values())
        if self.cap is not None and self.billed + flying + estimate > self.cap + 1e-9:
            raise BudgetRefused(refusal(self.billed, flying, estimate, self.cap))
        self.in_flight[label] = estimate

    def bill(self, label: str, cost: float) -> None:
        self.billed += cost

    def release(self, label: str) -> None:
        self.in_flight.pop(label, None)
