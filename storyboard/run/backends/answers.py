"""Reading the provider's answers: what an error means, what a finished task gave,
and whether an answer is about our task at all.

Pure functions of the provider profile and the answer's JSON (and, for
`raise_for_answer`, its HTTP status and Retry-After), so that the backend in
`kirin` keeps only the steps and the HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, NoReturn

import httpx

from storyboard.errors import (
    AuthenticationError,
    DownloadError,
    MalformedResponse,
    PermanentProviderError,
    ProviderError,
    RateLimited,
    ResourceInsufficient,
    ServerError,
    TaskCreationError,
    TaskFailed,
    TaskMismatch,
    TaskNotFound,
    TaskResponseError,
)
from storyboard.provider import api
from storyboard.provider.profile import ProviderProfile, extract
from storyboard.run.backends.apikey import API_KEY_ENV, REDACTOR
from storyboard.run.backends.base import Outcome, RemoteTask

if TYPE_CHECKING:
    from storyboard.media import MediaInfo  # a PyAV probe's answer: typing only

# A clip whose probed length differs from the provider's S3 duration by more
# than this is not the clip we were promised (a truncated file, a wrong URL).
DURATION_TOLERANCE_SECONDS = 0.5
# An answer whose output duration differs from what we asked for by more than the
# executor forgives a clip (a frame and a half, plus rounding) is another task's:
# tasks are asked for in whole seconds (R19), so two tasks differ by a second or more.
ASKED_DURATION_TOLERANCE_SECONDS = 1.5 / api.OUTPUT_FPS + 0.05
_REUSED_IDS = (
    "a restarted or switched provider reuses task ids: this is not our task, "
    "and ours must be made again"
)
_FAILURE_CODES: dict[str, type[ProviderError]] = {
    api.E1_RESOURCE_INSUFFICIENT: ResourceInsufficient,
    api.E2_TASK_RESPONSE_ERROR: TaskResponseError,
    api.E3_TASK_CREATION_ERROR: TaskCreationError,
}


def raise_for_answer(
    profile: ProviderProfile, what: str, response: httpx.Response, doc: Any
) -> NoReturn:
    """Raise the tool's error for an answer that is not a success (S2, E1-E3, HTTP)."""
    status = response.status_code
    code, message = error_fields(profile, doc)
    if code in _FAILURE_CODES:
        raise _FAILURE_CODES[code](f"{what}: error {code}: {message or 'no message'}")
    detail = f"{what}: HTTP {status}" + (f": {message}" if message else "")
    if status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
        raise AuthenticationError(
            f"{detail}. The provider refused the API key: check {API_KEY_ENV}"
        )
    if status == httpx.codes.NOT_FOUND:
        raise TaskNotFound(detail)
    if status == httpx.codes.TOO_MANY_REQUESTS:
        raise RateLimited(detail, retry_after(response))
    if status >= httpx.codes.INTERNAL_SERVER_ERROR:
        raise ServerError(detail)
    if what == "create":
        raise TaskCreationError(detail)
    raise PermanentProviderError(detail)


def error_fields(profile: ProviderProfile, doc: Any) -> tuple[str | None, str]:
    """S2 `error.code` and message, looked for inside and outside the envelope."""
    for scope in (extract(doc, profile.envelope) if profile.envelope else None, doc):
        code = extract(scope, profile.error_code_field)
        if code is not None:
            text = str(code)
            message = extract(scope, profile.error_message_field)
            # JSON numbers lose the codes' leading zeros (6001094 for 006001094).
            return (text.zfill(9) if text.isdigit() else text), REDACTOR.scrub(str(message or ""))
    return None, ""


def raise_failure(profile: ProviderProfile, task_id: str, doc: Any) -> NoReturn:
    """Raise the error of a task the provider says failed (E1-E3, else TaskFailed)."""
    code, message = error_fields(profile, doc)
    text = f"task {task_id} failed with error {code}: {message or 'no message'}"
    raise _FAILURE_CODES.get(code or "", TaskFailed)(text)


def outcome(profile: ProviderProfile, backend: str, remote: RemoteTask, doc: Any) -> Outcome:
    """A finished task's answer as an Outcome; MalformedResponse without a video URL."""
    p = profile
    url = extract(doc, p.video_url_field)
    if not isinstance(url, str) or not url:
        raise MalformedResponse(
            f"task {remote.task_id} completed without a video URL at {p.video_url_field!r}"
        )
    return Outcome(
        backend=backend,
        task_id=remote.task_id,
        external_task_id=remote.external_task_id,
        status=str(extract(doc, p.status_field)),
        video_url=url,
        duration=number(extract(doc, p.output_duration_field)),
        cost_usd=number(extract(doc, p.usage_cost_field)),
        raw=doc if isinstance(doc, Mapping) else {"answer": doc},
    )


def check_answer(profile: ProviderProfile, what: str, doc: Any, remote: RemoteTask) -> None:
    """Refuse an answer about another task than `remote` with TaskMismatch.

    Checked where the answer says: its task id, its external id (the one
    thing unique to what we sent, R23), its mode and its output duration
    against what `remote` asked for. A provider restarted with an in-memory
    counter, or another gateway under the same cache name, hands out the
    same task ids again; believing it would store another task's clip (and
    bill) as ours.
    """
    p = profile
    ours = f"task {remote.task_id}"
    answered = extract(doc, p.task_id_field)
    if answered not in (None, "") and str(answered) != remote.task_id:
        raise TaskMismatch(
            f"{what}: asked about {ours}, the provider answered for task {answered}: " + _REUSED_IDS
        )
    sent = remote.external_task_id
    external = extract(doc, p.external_id_field) if p.external_id_field else None
    if external not in (None, "") and str(external) != sent:
        raise TaskMismatch(
            f"{what}: the provider answered for {ours} with external id {external}, "
            f"we sent {sent}: " + _REUSED_IDS
        )
    mode = extract(doc, p.mode_field) if p.mode_field else None
    if remote.mode is not None and mode not in (None, "") and str(mode) != remote.mode:
        raise TaskMismatch(
            f"{what}: the provider answered for {ours} (external id {sent}) with a "
            f"{mode} task, we asked for {remote.mode}: " + _REUSED_IDS
        )
    seconds = number(extract(doc, p.output_duration_field))
    if (
        remote.seconds is not None
        and seconds is not None
        and abs(seconds - remote.seconds) > ASKED_DURATION_TOLERANCE_SECONDS
    ):
        raise TaskMismatch(
            f"{what}: the provider answered for {ours} (external id {sent}) with a "
            f"{seconds:g} s clip, we asked for {remote.seconds:g} s: " + _REUSED_IDS
        )


def number(value: Any) -> float | None:
    """S3 duration / S4 cost (a string of USD) as a float, None if absent or not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, whether given as seconds or as an HTTP date."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def check_clip(info: MediaInfo, outcome: Outcome, shown: str) -> None:
    """Refuse a downloaded file that has no video or is not as long as promised (S3)."""
    if not info.has_video:
        raise DownloadError(f"{shown}: the file has no video stream")
    promised = outcome.duration
    if promised and abs(info.duration - promised) > DURATION_TOLERANCE_SECONDS:
        raise DownloadError(
            f"{shown}: the clip lasts {info.duration:.2f} s, the provider said {promised:g} s"
        )
