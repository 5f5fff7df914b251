"""Callbacks (R22) for the workers: the provider's notice wakes the workflow waiting
for its task, through the engine.

A worker given `--callback-url` (the public address of a `storyboard
callback-server --database …`) sends each task's create with a callback URL
naming the provider workflow that waits for it and carrying that name's
token (an HMAC with the callback secret that the receiver and every worker
share: `STORYBOARD_CALLBACK_SECRET`). The receiver checks the token, and
`EngineSink` hands the notice to that workflow with DBOS `send`; the workflow
waits with DBOS `recv` between status queries, which it makes at once when a
notice comes and otherwise only as the slow fallback (`callback_poll`). The
notice only wakes the workflow: the status query is the truth, so a
duplicated, late or reordered notice costs one query, and a lost one the
fallback's delay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from storyboard.errors import (
    ConnectionLost,
    MalformedResponse,
    ProviderTimeout,
    RateLimited,
    ServerError,
)
from storyboard.fleet.jobs import PROVIDER_WORKFLOW
from storyboard.provider.profile import ProviderProfile
from storyboard.run.backends.base import Outcome, RemoteTask

if TYPE_CHECKING:
    from dbos import DBOSClient

    from storyboard.run.backends.kirin import KirinBackend

NOTICE = "notice"  # the DBOS topic a provider workflow receives notices on
_ASKED_AGAIN = (ServerError, ProviderTimeout, ConnectionLost, MalformedResponse, RateLimited)
WAITING = ("PENDING", "ENQUEUED")


class EngineSink:
    """The receiver's hand-off to the engine: a notice for a provider workflow that
    is still waiting, sent to it; anything else is unknown (a 404), and changes
    nothing."""

    def __init__(self, client: DBOSClient) -> None:
        self.client = client

    async def deliver(self, external_id: str, body: Mapping[str, Any]) -> bool:
        found = await self.client.list_workflows_async(
            workflow_ids=[external_id], load_input=False, load_output=False
        )
        if not found or found[0].name != PROVIDER_WORKFLOW or found[0].status not in WAITING:
            return False
        await self.client.send_async(external_id, dict(body), topic=NOTICE)
        return True

    async def __aenter__(self) -> EngineSink:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.client.destroy()


async def wait_for_notices(
    backend: KirinBackend, remote: RemoteTask, profile: ProviderProfile
) -> Outcome:
    """The provider workflow's wait with callbacks: ask, then sleep until a notice or
    the fallback poll, until the task is finished. Everything it decides on is a
    recorded step or message, so a resumed workflow replays it as it went."""
    from dbos import DBOS

    rounds = int(profile.wait_timeout / profile.callback_poll) + 1
    failures = 0
    while rounds > 0:
        try:
            done = await DBOS.run_step_async({"name": "status"}, backend.status, remote)
        except _ASKED_AGAIN:
            failures += 1
            if failures > profile.poll_retries:
                raise
            await DBOS.sleep_async(profile.poll_initial)
            continue
        failures = 0
        if done is not None:
            return done
        rounds -= 1
        await DBOS.recv_async(NOTICE, timeout_seconds=profile.callback_poll)
    raise ProviderTimeout(f"task {remote.task_id} not finished after {profile.wait_timeout:g} s")
