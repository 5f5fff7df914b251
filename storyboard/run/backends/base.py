"""The one interface between the executor and whatever makes clips.

A backend turns one task payload (the exact R1-R23 request body of
`plan.json`, placeholders already resolved) into one verified clip on disk.
The work is split into four awaitable steps so that the executor can write
its journal between them and resume after a crash without paying twice:

    async with backend:                                   # opens/closes connections
        remote = await backend.find(ext_id)               # T3: sent before a crash?
        if remote is None:
            remote = await backend.submit(payload, ext_id, label=task.id)
        journal.record_submitted(task.id, remote.to_json())   # <- crash-safe point
        outcome = await backend.wait(remote, on_status=journal.record_status)
        journal.record_finished(task.id, outcome.to_json())
        info = await backend.download(outcome, build / "clips" / f"{task.id}.mp4")

Contract of every step (the same for every backend; nothing asks which one
it is: the spend gate before a run asks `spends_money` and `reads_local_files`):

- Every failure is a `storyboard.errors.ProviderError`. `exc.transient`
  says whether the same call may succeed later: `ResourceInsufficient` (E1)
  and `RateLimited` (429, `retry_after`) mean lower concurrency and back off;
  `TaskResponseError` (E2), `ServerError`, `ProviderTimeout`, `ConnectionLost`,
  `MalformedResponse`, `DownloadError` mean retry with jittered backoff, a
  bounded number of times. `TaskCreationError` (E3), `AuthenticationError`,
  `TaskNotFound`, `TaskFailed` are permanent: report, do not loop.
  `EnvironmentProblem` (no key, no base URL) stops the run before any spend.
- A task that *failed* (E1/E2 from `wait`) is finished: retrying means a new
  `submit`. External ids are unique per user (R23), so a resubmission uses a
  new id: `attempt_external_id(base_id, attempt)`; the journal records which
  id it last sent, so `find` after a crash looks up the right one.
- A transient error from `submit` does not prove the task was not created;
  backends already look the external id up before raising, but the
  executor's retry should still start with `find`.
- An answer about another task than the one sent (another external id, or
  where the answer does not say, another mode or output duration than asked
  for: a restarted gateway handing out the same task ids again) raises
  `TaskMismatch`, a `TaskNotFound`: ours is as good as lost, never a clip.
- `wait` may be called again on the same `RemoteTask` at any time (after a
  crash, or to get a fresh output URL): polling is idempotent and a
  finished task answers at once.
- Output URLs expire (API.md). Download promptly after `wait`; on a
  `DownloadError`, call `wait(remote)` again for a fresh URL, then retry.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from storyboard.media import MediaInfo  # a PyAV probe's answer: typing only

StatusCallback = Callable[[str], Awaitable[None] | None]
"""Called by `wait` with each new status name (for progress and the journal)."""


@dataclass(frozen=True)
class RemoteTask:
    """A task the backend has accepted: everything needed to find it again later.

    `seconds` (R19, None for a base edit) and `mode` (R17) are what the payload
    asked for, when the backend knows it (set by `submit`, unknown after `find`):
    a provider's answer for this task id must agree with them, or it is another
    task's (a restarted gateway that hands out the same ids again).
    """

    backend: str
    task_id: str
    external_task_id: str
    status: str
    seconds: float | None = None
    mode: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RemoteTask:
        """Also reads records written before `seconds` and `mode` existed."""
        keys = ("backend", "task_id", "external_task_id", "status")
        seconds, mode = data.get("seconds"), data.get("mode")
        return cls(
            **{k: str(data[k]) for k in keys},
            seconds=None if seconds is None else float(seconds),
            mode=None if mode is None else str(mode),
        )


@dataclass(frozen=True)
class Outcome:
    """A completed task (S1 terminal `completed`): where its clip is and what it cost.

    `video_url` may expire (download promptly); `duration` is the provider's
    S3 output duration (None if it gave none); `cost_usd` is what it billed
    (S4 `usage.cost`; 0 for free backends, None if not reported); `raw` is
    the provider's last status document, kept for the run record.
    """

    backend: str
    task_id: str
    external_task_id: str
    status: str
    video_url: str
    duration: float | None = None
    cost_usd: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["raw"] = dict(self.raw)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        return cls(**data)


def attempt_external_id(base_id: str, attempt: int) -> str:
    """The external id of attempt `attempt` (1-based) of one task.

    Attempt 1 uses the compiled id itself, so a resumed run finds what the
    crashed run sent; later attempts (after an E1/E2 failure) get a suffix,
    because external ids are unique per user (R23) and a failed task keeps
    its id.
    """
    return base_id if attempt <= 1 else f"{base_id}-r{attempt}"


class Backend(abc.ABC):
    """Turns task payloads into clips. Use as `async with backend: ...`."""

    name: str
    """Short name (`preview`, `kirin`), recorded in `RemoteTask.backend` and run.json."""
    spends_money: bool
    """True if submitting costs real money: the spend gate (`storyboard.spend`) shows
    the estimate, holds it to --max-cost and asks before anything is sent."""
    source: str
    """Where its clips come from, as a cache partition: clips of one source are
    never served for another (a preview animatic, or a mock's clip, must never
    stand in for a clip the real provider would have made)."""
    variants: Mapping[str, str] = MappingProxyType({})
    """What, beyond the request, each cache key's clip depends on with this backend
    (the preview's cards: the author's names and the film's time), by cache key;
    the cache keeps such a clip apart (`ClipCache.entry_name`). Empty for a
    provider, whose clip is the request's alone."""
    reads_local_files: bool = False
    """True if the backend can open this machine's files (file:// URLs): the preview
    renderer, and a provider on loopback (the mock); the real API cannot. Then the
    executor sends local copies of published assets (`assets_base_url`) instead of
    their public URLs; else the spend gate refuses a plan that names a local video
    (R13: videos travel by URL only) before anything is sent."""

    @abc.abstractmethod
    async def submit(
        self, payload: Mapping[str, Any], external_task_id: str, *, label: str = ""
    ) -> RemoteTask:
        """Create the task (T2) under `external_task_id` (R23); return at once, do not wait.

        `payload` is the request body with every placeholder resolved; the
        backend sets `external_task_id` in what it sends. `label` (the task
        id of the plan) is for humans: the preview cards show it, kirin
        ignores it. If the create call fails transiently, the backend first
        looks the external id up and returns the task if it exists.
        """

    @abc.abstractmethod
    async def find(self, external_task_id: str) -> RemoteTask | None:
        """The task created earlier under `external_task_id` (T3), or None if there is none.

        Call before `submit` when resuming, so a task sent before a crash is
        waited for, not paid for again.
        """

    @abc.abstractmethod
    async def wait(self, remote: RemoteTask, *, on_status: StatusCallback | None = None) -> Outcome:
        """Poll until the task is terminal; return its Outcome or raise why it failed.

        Polls with backoff (first quickly, then less often) and tolerates a
        few transient poll failures in a row. A `failed` task raises
        `ResourceInsufficient` (E1), `TaskResponseError` (E2),
        `TaskCreationError` (E3) or `TaskFailed` (any other code);
        not finishing within the profile's wait timeout raises
        `ProviderTimeout`. `on_status` is called with each new status.
        """

    @abc.abstractmethod
    async def download(self, outcome: Outcome, dest: Path) -> MediaInfo:
        """Fetch the clip to `dest` and return its probe.

        The bytes are streamed to a temporary file beside `dest`, checked
        (complete, probes as a video, duration as reported) and only then
        renamed onto `dest` atomically: `dest` is either absent or a whole,
        verified clip, never a partial one. Failures raise `DownloadError`
        (or `ProviderTimeout`/`ConnectionLost` when the transfer never got going).
        """

    async def aclose(self) -> None:  # noqa: B027 (optional hook, nothing to release by default)
        """Release connections and threads; the backend is unusable afterwards."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
