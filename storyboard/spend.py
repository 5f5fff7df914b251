"""The spend gate of `storyboard render`: what a run would cost, and whether it may start.

Decided before anything runs (before plan.json is written or the build folder
locked), so a render refused here sends nothing and leaves nothing behind.
The gate asks the backend what it is, never its name:

- a backend that cannot read this machine's files (`reads_local_files`: the real
  API) refuses a plan that names a local video, because videos travel by URL
  only (R13);
- a backend that `spends_money` has its estimate shown, is held to `--max-cost`,
  and spends only once the user said yes.

What a run would send is reckoned once, by the run stage (`run.record.pending_cost`,
the same sum the executor's own budget check makes); this module only decides.
The CLI prints the decision and asks the question.
"""

from __future__ import annotations

from dataclasses import dataclass

from storyboard.compile.compiler import Compilation, uses_local_video
from storyboard.compile.plan import Estimate
from storyboard.errors import UsageError
from storyboard.run.backends.base import Backend
from storyboard.run.cache import ClipCache
from storyboard.run.record import RunOptions, pending_cost


@dataclass(frozen=True)
class Spend:
    """What a render on one backend would spend, and what must happen before it does."""

    spends_money: bool
    """The backend bills: the estimate is shown and the gate applies."""
    to_pay: float
    """List price of the tasks that would be sent (0 on a backend that bills nothing)."""
    tasks: int
    """Takes the run settles (every task's planned takes and the new ones), sent or not."""
    max_cost: float | None
    """`--max-cost`, if given."""
    confirmed: bool
    """`--yes`: the user agreed to spend beforehand."""

    @property
    def over_budget(self) -> bool:
        """The estimate passes --max-cost: refused, nothing is sent."""
        return self.max_cost is not None and self.to_pay > self.max_cost

    @property
    def needs_confirmation(self) -> bool:
        """Real money would be spent and the user has not said yes yet."""
        return not self.over_budget and self.to_pay > 0 and not self.confirmed


def refuse_local_videos(plan: Compilation, backend: Backend) -> None:
    """Raise `UsageError` if the plan names a local video the backend cannot read (R13).

    A storyboard without `assets_base_url` sends its local videos as files; the
    preview renderer and the mock read them, the real API takes URLs only and would
    fail those tasks after the others were paid for."""
    if backend.reads_local_files:
        return
    local = uses_local_video(plan)
    if local:
        raise UsageError(
            f"tasks {', '.join(local)} use local video files, and the API takes videos by "
            "URL only (R13): set assets_base_url: in the storyboard to where its folder is "
            "published. Nothing was sent."
        )


def assess(
    plan: Compilation, backend: Backend, cache: ClipCache, options: RunOptions, *, confirmed: bool
) -> Spend:
    """The gate's decision for running `plan` on `backend` with `options`.

    Raises `UsageError` for a plan the backend cannot take (R13). Clips already in
    the backend's shelf of `cache` cost nothing (a new take always does), and tasks left out
    by `--select` are not counted; on a backend that does not spend money, nothing
    is looked up and nothing is to pay."""
    refuse_local_videos(plan, backend)
    to_pay = 0.0
    if backend.spends_money:
        shelf = cache.for_source(backend.source, backend.variants)
        to_pay = pending_cost(plan.tasks, shelf, options)
    return Spend(
        spends_money=backend.spends_money,
        to_pay=to_pay,
        tasks=Estimate.of(plan.tasks).tasks + sum(options.retakes.values()),
        max_cost=options.max_cost,
        confirmed=confirmed,
    )
