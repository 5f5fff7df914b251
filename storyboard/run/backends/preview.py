"""The `preview` backend: animatics rendered locally, behind the same interface as kirin.

No network, no key, no cost. Given the plan, its cards speak the storyboard's
names and the film's time (`preview_cards`); those notes are part of its cache
variant (`variants`), so a card whose notes changed (a scene moved before it) is
drawn again while the others keep their clips, and no kirin request or key is
touched. A "task" is a folder under the work folder
named after its external id, holding the request and, once rendered, the
clip; so `find` after a crash sees what was submitted or rendered, exactly
like a provider would. Rendering (ffmpeg) runs in a worker thread so the
executor's event loop keeps polling, downloading and journaling meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import inspect
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from storyboard import media, scratch
from storyboard.animatic import RENDERER_VERSION
from storyboard.animatic.notes import CardNotes
from storyboard.errors import (
    DownloadError,
    MediaError,
    ProbeError,
    TaskCreationError,
    TaskFailed,
    TaskNotFound,
)
from storyboard.language.takes import Take
from storyboard.media import local_media
from storyboard.run.backends.base import Backend, Outcome, RemoteTask, StatusCallback
from storyboard.run.backends.preview_cards import PlanLike, card_notes, notes_digest

REQUEST_FILE = "request.json"
CLIP_FILE = "clip.mp4"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class PreviewBackend(Backend):
    """Renders each task as an animatic with `storyboard.animatic.renderer.render_preview`."""

    name = "preview"
    spends_money = False
    reads_local_files = True
    source = f"preview-r{RENDERER_VERSION}"

    def __init__(self, work_dir: Path, plan: PlanLike | None = None) -> None:
        """`work_dir` holds one folder per task. `plan` (the plan or compilation being
        run) lets the cards name references as the author did and show the film's
        time; each task's notes are its cache variant (`variants`), so a card is
        never served with names or a film time it was not drawn with, and a task
        whose notes did not change keeps its clip."""
        self.work_dir = Path(work_dir)
        self._locks: dict[str, asyncio.Lock] = {}
        self.notes: dict[str, CardNotes] = card_notes(plan) if plan is not None else {}
        self.variants = self.variants_for(plan, self.notes) if plan is not None else {}
        self._by_external = {  # a take's or an attempt's id starts with its task's
            t.external_task_id: self.variants[t.cache_key]
            for t in (plan.tasks if plan is not None else ())
            if t.cache_key in self.variants
        }

    @classmethod
    def variants_for(
        cls, plan: PlanLike, notes: Mapping[str, CardNotes] | None = None
    ) -> dict[str, str]:
        """Each task's cache variant on the preview shelf, by cache key, without
        opening a backend (what `storyboard plan` must look at to say what is
        cached): a digest of its cards' notes. Tasks that share one request (and so
        one clip) share one variant, made of all their notes. `notes`: the plan's
        card notes, when they are already drawn up."""
        notes = card_notes(plan) if notes is None else notes
        by_key: dict[str, dict[str, CardNotes]] = {}
        for task in plan.tasks:
            if task.id in notes:
                by_key.setdefault(task.cache_key, {})[task.id] = notes[task.id]
        return {key: notes_digest(found) for key, found in by_key.items()}

    def notes_of(self, label: str) -> CardNotes | None:
        """The notes of a take's cards (`label`: TASK or TASK@K), if the plan has them."""
        try:
            return self.notes.get(Take.parse(label).task)
        except ValueError:
            return None

    def _folder(self, external_task_id: str) -> Path:
        safe = _UNSAFE.sub("_", external_task_id)
        if safe != external_task_id:  # keep distinct ids distinct after cleaning
            safe += "-" + hashlib.sha256(external_task_id.encode()).hexdigest()[:8]
        variant = self._by_external.get("-".join(external_task_id.split("-")[:2]))
        if variant:  # another film time or other names: another card, drawn afresh
            safe += f"~{variant}"
        return self.work_dir / self.source / safe  # a newer renderer starts afresh

    async def submit(
        self, payload: Mapping[str, Any], external_task_id: str, *, label: str = ""
    ) -> RemoteTask:
        folder = self._folder(external_task_id)
        folder.mkdir(parents=True, exist_ok=True)
        notes = self.notes_of(label)
        request = {
            "payload": {**payload, "external_task_id": external_task_id},
            "label": label or external_task_id,
            "notes": notes.to_json() if notes is not None else None,
        }
        scratch.atomic_write(folder / REQUEST_FILE, json.dumps(request, ensure_ascii=False))
        return RemoteTask(self.name, external_task_id, external_task_id, "queued")

    async def find(self, external_task_id: str) -> RemoteTask | None:
        folder = self._folder(external_task_id)
        if (folder / CLIP_FILE).is_file():
            status = "completed"
        elif (folder / REQUEST_FILE).is_file():
            status = "queued"
        else:
            return None
        return RemoteTask(self.name, external_task_id, external_task_id, status)

    async def wait(self, remote: RemoteTask, *, on_status: StatusCallback | None = None) -> Outcome:
        folder = self._folder(remote.external_task_id)
        clip = folder / CLIP_FILE
        lock = self._locks.setdefault(remote.external_task_id, asyncio.Lock())
        async with lock:
            if not clip.is_file():
                await _notify(on_status, "processing")
                info = await self._render(folder, remote)
            else:
                try:
                    info = await asyncio.to_thread(media.probe, clip)
                except ProbeError:  # a damaged earlier render: render again
                    clip.unlink(missing_ok=True)
                    info = await self._render(folder, remote)
        await _notify(on_status, "completed")
        return Outcome(
            backend=self.name,
            task_id=remote.task_id,
            external_task_id=remote.external_task_id,
            status="completed",
            video_url=clip.resolve().as_uri(),
            duration=info.duration,
            cost_usd=0.0,
            raw={"clip": str(clip), "duration": info.duration},
        )

    async def _render(self, folder: Path, remote: RemoteTask) -> media.MediaInfo:
        try:
            request = json.loads((folder / REQUEST_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            missing = remote.external_task_id
            raise TaskNotFound(f"preview task {missing} was never submitted") from exc
        from storyboard.animatic.renderer import render_preview  # Pillow, cards: to draw

        try:
            with scratch.replacing(folder / CLIP_FILE) as tmp:
                info = await asyncio.to_thread(
                    render_preview,
                    request["payload"],
                    tmp,
                    label=request["label"],
                    resolve_media=self._resolve_local,
                    notes=CardNotes.from_json(request["notes"]) if request.get("notes") else None,
                    offline=True,  # a reference video by URL: named on the card, not fetched
                )
        except TaskCreationError:
            raise
        except MediaError as exc:
            raise TaskFailed(f"preview of {request['label']} failed: {exc}") from exc
        return dataclasses.replace(info, path=folder / CLIP_FILE)

    async def download(self, outcome: Outcome, dest: Path) -> media.MediaInfo:
        source = _file_path(outcome.video_url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with scratch.replacing(dest) as tmp:
                await asyncio.to_thread(shutil.copyfile, source, tmp)
                info = await asyncio.to_thread(media.probe, tmp)
                if not info.has_video:
                    raise DownloadError(f"preview clip {source} has no video stream")
        except (OSError, ProbeError) as exc:
            raise DownloadError(f"cannot copy preview clip {source} to {dest}: {exc}") from exc
        return dataclasses.replace(info, path=dest)

    def _resolve_local(self, url: str) -> Path:
        """file:// URLs, local paths and Base64 images; the preview never uses the network."""
        try:
            path = local_media(url, self.work_dir / "inline")
        except MediaError as exc:
            raise TaskCreationError(str(exc)) from exc
        if path is None:
            parts = urlsplit(url)
            raise TaskCreationError(
                f"the preview backend works offline and cannot fetch {parts.scheme}://"
                f"{parts.netloc}{parts.path}; use a local file"
            )
        return path


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    return Path(unquote(parts.path)) if parts.scheme == "file" else Path(url)


async def _notify(on_status: StatusCallback | None, status: str) -> None:
    if on_status is not None:
        result = on_status(status)
        if inspect.isawaitable(result):
            await result
