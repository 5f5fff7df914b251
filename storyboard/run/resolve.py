"""Placeholders resolved just before a task is sent.

A payload in plan.json holds `${task:<id>:last_frame}`, `${task:<id>:first_frame}`,
`${task:<id>:video_url}` and `${file:<path>}` where a value exists only at run
time. The upstream task's chosen take is in the build (its frames are taken from it
and kept in `frames/` for the record), its output URL is asked of the backend again
(URLs expire), and a published asset is handed to a backend that reads local
files as the file it was published from.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from storyboard import media
from storyboard.compile.placeholders import Placeholder
from storyboard.compile.plan import PlanTask
from storyboard.errors import ProviderError, TaskCreationError, TaskFailed
from storyboard.run.backends.base import Backend, RemoteTask


class RunTimeValues:
    """The run-time values of one build's placeholders.

    `remotes` is the executor's own map of finished tasks to their provider tasks,
    shared, so that an upstream finished in this run is found."""

    def __init__(
        self,
        backend: Backend,
        *,
        build_dir: Path,
        story_dir: Path,
        assets_base_url: str | None,
        remotes: dict[str, RemoteTask],
        chosen: Mapping[str, str] | None = None,
    ) -> None:
        self.backend = backend
        self.clips_dir = build_dir / "clips"
        self.frames_dir = build_dir / "frames"
        self.story_dir = story_dir
        self.assets_base_url = assets_base_url
        self.remotes = remotes
        self.chosen = dict(chosen or {})  # task id -> label of the take dependants use

    async def payload(self, task: PlanTask) -> dict[str, Any]:
        """The payload with every `${...}` placeholder replaced by its run-time value."""
        payload = task.payload
        out = dict(payload)
        if "image_list" in payload:
            out["image_list"] = [
                {**item, "image_url": await self._value(item["image_url"])}
                for item in payload["image_list"]
            ]
        if "video_list" in payload:
            out["video_list"] = [
                {**item, "video_url": await self._value(item["video_url"])}
                for item in payload["video_list"]
            ]
        return out

    async def _value(self, text: str) -> str:
        if not (text.startswith("${") and text.endswith("}")):
            return self._local_copy(text)
        found = Placeholder.parse(text)
        if found is None:
            raise TaskFailed(f"unknown placeholder {text}")
        if found.is_file:
            if not self.backend.reads_local_files:
                raise TaskCreationError(
                    f"{found.task} is a local file and the API takes videos by URL only (R13); "
                    "set assets_base_url to where the storyboard's folder is published"
                )
            return (self.story_dir / found.task).resolve().as_uri()
        source = self.chosen.get(found.task, found.task)  # its chosen take
        if found.kind == "video_url":
            return await self._video_url(source)
        which = found.kind.removesuffix("_frame")
        return await asyncio.to_thread(self._frame_base64, source, which)

    def _local_copy(self, url: str) -> str:
        """A published asset (`assets_base_url` + path) as the local file it was published
        from, for backends that read local files: the preview and the mock never fetch."""
        base = self.assets_base_url
        if not (base and self.backend.reads_local_files and url.startswith(base)):
            return url
        path = (self.story_dir / unquote(url[len(base) :])).resolve()
        return path.as_uri() if path.is_file() else url

    def _frame_base64(self, source: str, which: str) -> str:
        """The frame as the JPEG that is sent (R8, R9), kept in frames/ for the record."""
        image = media.frame_image(self.clips_dir / f"{source}.mp4", which=which)
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="JPEG", quality=92)
        self.frames_dir.mkdir(parents=True, exist_ok=True)
        (self.frames_dir / f"{source}.{which}.jpg").write_bytes(buf.getvalue())
        return base64.b64encode(buf.getvalue()).decode("ascii")

    async def _video_url(self, source: str) -> str:
        """The upstream clip's URL, refreshed through the backend (output URLs expire).

        If the backend no longer knows the upstream task (a clip from another
        build's cache, say), the local clip is offered as a file URL: local
        backends and the mock read it; a real provider refuses it with E3.
        """
        remote = self.remotes.get(source)
        if remote is not None and remote.backend == self.backend.name:
            try:
                return (await self.backend.wait(remote)).video_url
            except ProviderError:
                pass
        local = self.clips_dir / f"{source}.mp4"
        media.probe(local)  # raises ProbeError if there is no clip at all
        return local.resolve().as_uri()
