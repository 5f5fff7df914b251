"""A finished provider task's clip into the build, verified.

Only a clip that is the planned one (a picture, the plan's length within about
a frame) and decodes in full enters the cache, so a stream copy of it into the
film is known to decode. An expired or broken download URL is refreshed by
polling the provider task again, which costs nothing; so is the clip of a
damaged cache entry, from the provider task that made it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from storyboard import media
from storyboard.compile.plan import PlanTask
from storyboard.errors import ClipMismatch, DownloadError, ProbeError
from storyboard.run.backends.base import Backend, Outcome, RemoteTask
from storyboard.run.cache import DamagedEntry

FRAME_TOLERANCE = 1.5 / 24  # a clip may differ from its plan by about a frame
TRIES = 3


async def fetch_clip(
    backend: Backend, task: PlanTask, remote: RemoteTask, outcome: Outcome, clip: Path
) -> media.MediaInfo:
    """Download and verify; an expired or broken URL is refreshed by polling again.

    A whole clip that is not the planned one (its length, no picture) is fetched
    again a bounded number of times, then fails the task for good (ClipMismatch):
    the provider's finished task will not change."""
    for tries in range(TRIES):
        last = tries == TRIES - 1
        try:
            info = await backend.download(outcome, clip)
            await asyncio.to_thread(verify_clip, task, info)
            return info
        except DownloadError:
            if last:
                raise
        except ClipMismatch:
            clip.unlink(missing_ok=True)
            if last:
                raise
        outcome = await backend.wait(remote)
    raise AssertionError("unreachable")


def damaged_source(damaged: DamagedEntry, backend: str) -> RemoteTask | None:
    """The provider task a damaged cache entry's clip came from, if `backend` made
    it: polling it again gives a fresh URL to the same clip, at no cost."""
    data = damaged.meta.get("remote")
    if not isinstance(data, dict) or data.get("backend") != backend:
        return None
    try:
        return RemoteTask.from_json(data)
    except (KeyError, TypeError):
        return None


def verify_clip(task: PlanTask, info: media.MediaInfo) -> None:
    """Raise ClipMismatch unless the clip is the planned one and decodes in full."""
    expected = float(task.seconds)
    if not info.has_video:
        raise ClipMismatch(f"{task.id}: the provider's clip has no video stream")
    if expected and abs(info.duration - expected) > FRAME_TOLERANCE + 0.05:
        raise ClipMismatch(
            f"{task.id}: the provider's clip lasts {info.duration:.3f} s, "
            f"the plan says {expected:g} s"
        )
    try:
        media.decode_check_ffmpeg(info.path)  # PyAV loads here, on the first download
    except ProbeError as exc:
        raise ClipMismatch(f"{task.id}: the clip does not decode cleanly ({exc})") from exc
