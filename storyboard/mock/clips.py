"""The mock's clips: each task rendered by the animatic in a worker thread.

A task's media URLs are resolved to local files (its own earlier clips, or
files and data URLs the payload names); the mock never fetches from the
network, so anything else fails the task with E3. An injected fate (E1/E2)
settles the task without rendering; a renderer that breaks fails it with E2.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

from storyboard.animatic.renderer import render_preview
from storyboard.errors import MediaError
from storyboard.media import MediaInfo, local_media, probe
from storyboard.mock.state import MockState, MockTask
from storyboard.provider import api
from storyboard.provider.pricing import estimate_cost
from storyboard.provider.shape import edits_base

log = logging.getLogger("storyboard.mock.server")


class _Unresolvable(Exception):
    """A media URL the mock will not fetch (the internet) or cannot read."""


async def render_task(state: MockState, task: MockTask, base_url: str) -> None:
    """Render one task's clip in a worker thread, or settle its injected fate."""
    try:
        if task.fate is not None:
            message = {
                api.E1_RESOURCE_INSUFFICIENT: "task resource insufficient",
                api.E2_TASK_RESPONSE_ERROR: "task response error",
            }[task.fate]
            task.error = (task.fate, f"{message} (injected)")
            return
        assert state.renders is not None
        out = state.work_dir / "clips" / f"{task.task_id}.mp4"
        out.parent.mkdir(parents=True, exist_ok=True)

        def resolve(url: str) -> Path:
            return _resolve_media(url, state, base_url)

        try:
            if state.config.canned_clip is not None:  # load tests: no rendering at all
                info = await asyncio.to_thread(_can, state.config.canned_clip, out)
            else:
                async with state.renders:
                    info = await asyncio.to_thread(
                        render_preview,
                        task.payload,
                        out,
                        label=task.external_task_id or task.task_id,
                        resolve_media=resolve,
                    )
        except (_Unresolvable, MediaError) as exc:
            task.error = (api.E3_TASK_CREATION_ERROR, f"cannot use the task's media: {exc}")
            return
        task.clip, task.duration = out, info.duration
        base_edit = edits_base(task.payload.get("video_list", []))
        task.cost = state.config.bill_factor * estimate_cost(
            task.payload, source_seconds=info.duration if base_edit else None, prices=state.prices
        )
    except Exception as exc:  # the mock must answer, whatever the renderer did
        log.exception("mock render of %s failed", task.task_id)
        task.error = (api.E2_TASK_RESPONSE_ERROR, f"render failed: {type(exc).__name__}")
    finally:
        task.done, task.rendered = True, time.monotonic()


def _can(clip: Path, out: Path) -> MediaInfo:
    """The canned clip as this task's output (a hard link when the disk allows)."""
    try:
        out.unlink(missing_ok=True)
        os.link(clip, out)
    except OSError:
        shutil.copyfile(clip, out)
    return probe(out)


def _resolve_media(url: str, state: MockState, base_url: str) -> Path:
    """A payload's image/video URL as a local file; never fetches from the network."""
    own = base_url.rstrip("/") + "/files/"
    parts = urlsplit(url)
    if url.startswith(own) or (
        parts.scheme in ("http", "https")
        and parts.path.startswith("/files/")
        and parts.netloc == urlsplit(base_url).netloc
    ):
        task = state.tasks.get(Path(parts.path).name.removesuffix(".mp4"))
        if task is None or task.clip is None:
            raise _Unresolvable(f"{parts.path}: no such clip on this mock")
        return task.clip
    try:
        path = local_media(url, state.work_dir / "inline")
    except MediaError as exc:
        raise _Unresolvable(str(exc)) from exc
    if path is None:
        raise _Unresolvable(
            f"{parts.scheme}://{parts.netloc}{parts.path}: the mock never fetches from the network"
        )
    return path
