"""The provider profile: what the API page leaves open, as data with defaults.

API.md ("Not specified") leaves open the base URL, the paths of the create,
status and external-id calls, the in-progress status names and the exact
response shapes. Guessing them in code would break the first time a user
points the client at their own gateway, so they live here, with their
defaults in `ProviderProfile` below, and can be changed without code:

    # provider.toml, given by path or by $STORYBOARD_PROVIDER
    base_url = "https://gateway.example.com/kirin"
    status_path = "/v2/tasks/{task_id}"
    in_progress_statuses = ["submitted", "queued", "running"]
    envelope = "data"                      # answers wrapped as {"code": 0, "data": {...}}
    video_url_field = "output.0.content.[type=video].url"
    poll_max = 30
    callback_poll = 120                    # with --callback-url: the fallback poll

`KIRIN_BASE_URL` overrides `base_url` (the CLI's `--base-url` wins over
both). There is deliberately no default base URL: the seed names none, and
a silently wrong host would be worse than a clear "set KIRIN_BASE_URL".

Field paths are dotted: a name picks a key, a number picks a list item, and
`[key=value]` picks the first list item whose `key` equals `value`. Number
`0` applied to an object keeps the object, so `output.0.duration` reads both
`"output": [{...}]` and `"output": {...}`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from storyboard.errors import EnvironmentProblem
from storyboard.provider.config import override_file, read_overrides

PROVIDER_ENV = "STORYBOARD_PROVIDER"
BASE_URL_ENV = "KIRIN_BASE_URL"


@dataclass(frozen=True)
class ProviderProfile:
    """Where the API lives, what it calls things, and how patiently to ask it."""

    base_url: str = ""
    # T2/T3 call paths, relative to base_url.
    create_path: str = "/v1/videos/omni-video"
    status_path: str = "/v1/videos/omni-video/{task_id}"
    query_path: str = "/v1/videos/omni-video"
    query_param: str = "external_task_id"
    # S1 status names.
    in_progress_statuses: tuple[str, ...] = ("queued", "processing")
    completed_statuses: tuple[str, ...] = ("completed",)
    failed_statuses: tuple[str, ...] = ("failed",)
    # Where each value sits in an answer (after `envelope` is applied).
    envelope: str = ""
    task_id_field: str = "task_id"
    status_field: str = "status"
    error_code_field: str = "error.code"  # S2
    error_message_field: str = "error.error_message"  # S2
    video_url_field: str = "output.0.content.[type=video].url"  # S3
    output_duration_field: str = "output.0.duration"  # S3
    usage_cost_field: str = "usage.cost"  # S4
    # Where an answer names the task it is about (S5 metadata is free-form): each
    # answer is checked against what was sent, so that a provider that hands out
    # a task id again (restarted, or another one behind the same name) is caught.
    # An empty path, or an answer without the field, is not checked.
    external_id_field: str = "metadata.external_task_id"
    mode_field: str = "metadata.mode"  # R17
    # Polling (T2): start quick, back off towards poll_max; give up after wait_timeout.
    # Never wait longer than poll_fraction of a task's age (or of how long tasks of
    # this run took), so a finished task is noticed within about that fraction.
    poll_initial: float = 2.0
    poll_max: float = 15.0
    poll_backoff: float = 1.5
    poll_fraction: float = 0.1
    wait_timeout: float = 1800.0
    poll_retries: int = 3  # transient poll failures tolerated in a row inside one wait
    # Callbacks (R22, `render --callback-url`): the request field that carries a task's
    # callback URL, and how often to ask anyway while callbacks are on. A notice makes
    # the backend ask at once; this slow poll is the fallback for notices that never
    # come, so a lost one costs at most this long.
    callback_field: str = "callback_url"
    callback_poll: float = 60.0
    # HTTP timeouts in seconds (connect, and each read/write of a request).
    connect_timeout: float = 10.0
    request_timeout: float = 60.0
    download_timeout: float = 600.0
    # The clip cache keeps each provider's clips on a shelf of their own, named by
    # default after base_url's host (`kirin-api.example.com`). Two gateways to one
    # provider can share clips by giving them the same name here.
    cache_source: str = ""
    # Tasks the provider account runs at once: its limit belongs to the account, shared
    # by every process using the key, so the workers of `storyboard worker` share it
    # through one queue. The seed names no limit; the default is a modest guess.
    account_concurrency: int = 5

    def url(self, path: str) -> str:
        """`path` joined to base_url (absolute URLs are returned unchanged)."""
        if path.startswith(("http://", "https://")):
            return path
        if not self.base_url:
            raise EnvironmentProblem(
                f"no provider base URL: set {BASE_URL_ENV} (or base_url in the provider "
                f"profile, ${PROVIDER_ENV}); the API page names no default"
            )
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def status_url(self, task_id: str) -> str:
        """The S1-S5 status URL of one task."""
        return self.url(self.status_path.format(task_id=quote(task_id, safe="")))

    def is_terminal(self, status: str) -> bool:
        return status in self.completed_statuses or status in self.failed_statuses


def extract(document: Any, path: str) -> Any:
    """The value at dotted `path` in `document`, or None where anything is missing."""
    value = document
    for part in (p for p in path.split(".") if p) if path else ():
        if part.startswith("[") and part.endswith("]") and "=" in part:
            key, _, wanted = part[1:-1].partition("=")
            items = value if isinstance(value, list) else []
            value = next(
                (i for i in items if isinstance(i, Mapping) and str(i.get(key)) == wanted), None
            )
        elif part.isdigit():
            if isinstance(value, list):
                index = int(part)
                value = value[index] if index < len(value) else None
            elif not (isinstance(value, Mapping) and part == "0"):
                value = None
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            value = None
        if value is None:
            return None
    return value


_TUPLE_FIELDS = {"in_progress_statuses", "completed_statuses", "failed_statuses"}


def load_profile(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    base_url: str | None = None,
) -> ProviderProfile:
    """The profile: defaults < file (`path`, else `$STORYBOARD_PROVIDER`) < env < `base_url`.

    `$KIRIN_BASE_URL` overrides the file's base_url; the `base_url` argument
    (the CLI's `--base-url`) overrides both.

    The file is TOML (by suffix `.toml`) or JSON, with the field names of
    `ProviderProfile` at its top level or under a `provider` table. Unknown
    keys and wrong types are refused with the file and key named: a typo
    would otherwise leave a default silently in force.
    """
    environ = os.environ if env is None else env
    profile = ProviderProfile()
    file = override_file(path, PROVIDER_ENV, environ)
    if file is not None:
        profile = replace(profile, **_read_overrides(file))
    if environ.get(BASE_URL_ENV):
        profile = replace(profile, base_url=environ[BASE_URL_ENV])
    if base_url:
        profile = replace(profile, base_url=base_url)
    _check(profile)
    return profile


def _read_overrides(file: Path) -> dict[str, Any]:
    data = read_overrides(file, "provider profile", "provider", "settings")
    types = {f.name: type(f.default) for f in fields(ProviderProfile)}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in types:
            raise EnvironmentProblem(
                f"provider profile {file}: unknown setting {key!r}; known: {sorted(types)}"
            )
        if key in _TUPLE_FIELDS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise EnvironmentProblem(f"provider profile {file}: {key} must be a list of names")
            value = tuple(value)
        elif types[key] is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, types[key]) or isinstance(value, bool) != (types[key] is bool):
            raise EnvironmentProblem(
                f"provider profile {file}: {key} must be a {types[key].__name__}"
            )
        out[key] = value
    return out


def _check(profile: ProviderProfile) -> None:
    if profile.base_url and not profile.base_url.startswith(("http://", "https://")):
        raise EnvironmentProblem(
            f"provider base URL must start with http:// or https://: {profile.base_url}"
        )
    if "{task_id}" not in profile.status_path:
        raise EnvironmentProblem("provider status_path must contain {task_id}")
    names = [*profile.in_progress_statuses, *profile.completed_statuses, *profile.failed_statuses]
    if len(set(names)) != len(names):
        raise EnvironmentProblem("provider status names must not appear in two groups")
    if not (0 < profile.poll_initial <= profile.poll_max) or profile.poll_backoff < 1:
        raise EnvironmentProblem(
            "provider polling needs 0 < poll_initial <= poll_max and poll_backoff >= 1"
        )
    if profile.account_concurrency < 1:
        raise EnvironmentProblem("provider account_concurrency must be at least 1")
    if not 0 < profile.poll_fraction <= 1:
        raise EnvironmentProblem("provider poll_fraction must be in (0, 1]")
    if profile.callback_poll <= 0:
        raise EnvironmentProblem("provider callback_poll must be more than 0 seconds")


class PollPlanner:
    """When to ask for a task's status next: seldom, yet never long after it finished.

    It learns from this run's finished tasks how long a second of video takes
    (each finished between the last poll that saw it running and the first
    that saw it done: the midpoint counts), keeping the fastest: an early
    guess costs one poll, a late one costs the user's time. Until a task
    should be done it sleeps until then (at most `poll_max` at a time); once
    it is due, it looks again soon (a quarter of `poll_fraction` of the
    expected time) and then less often, doubling. While nothing is learnt it
    waits `poll_fraction` of the task's age (growing by at most `poll_backoff`
    per poll), so a finished task is seen within about that fraction of its
    running time. Times are the event loop's clock.
    """

    KEEP = 8  # recent observations that count

    def __init__(self, profile: ProviderProfile) -> None:
        self.profile = profile
        self._tasks: dict[str, tuple[float, float | None]] = {}  # id -> (sent at, seconds)
        self._rates: list[float] = []  # time to finish per output second (or per task)
        self._due: dict[str, float] = {}  # task id -> last wait since it became due

    def sent(self, task_id: str, at: float, seconds: float | None) -> None:
        self._tasks[task_id] = (at, seconds)

    def expected(self, task_id: str) -> float | None:
        """Seconds after sending when the task should be done, if anything was learnt."""
        if not self._rates or task_id not in self._tasks:
            return None
        return min(self._rates) * (self._tasks[task_id][1] or 1.0)

    def delay(self, task_id: str, now: float, previous: float | None) -> float:
        p = self.profile
        sent_at = self._tasks.setdefault(task_id, (now, None))[0]
        age = now - sent_at
        expected = self.expected(task_id)
        if expected is not None and age < expected:
            wait = expected - age
        elif expected is not None:
            last = self._due.get(task_id)
            first = p.poll_fraction * expected / 4
            wait = first if last is None else min(last * 2, p.poll_fraction * age)
            self._due[task_id] = wait
        else:
            grown = (previous or p.poll_initial) * p.poll_backoff
            wait = min(grown, p.poll_fraction * age)
        return min(p.poll_max, max(p.poll_initial, wait))

    def finished(self, task_id: str, last_seen_running: float | None, now: float) -> None:
        """Learn from a task that was still running at `last_seen_running` and is done `now`."""
        sent = self._tasks.pop(task_id, None)
        self._due.pop(task_id, None)
        if sent is None or last_seen_running is None:
            return  # re-attached after a crash, or done at the first poll: nothing to learn
        sent_at, seconds = sent
        done_at = (last_seen_running + now) / 2
        self._rates = [*self._rates, (done_at - sent_at) / (seconds or 1.0)][-self.KEEP :]
