"""A task's API payload, its identity and cost-free facts: the request body of
R1-R23 (placeholders included), the cache key that covers everything upstream,
and the external task id derived from it (R23).

Reads local images (inlined as Base64, R8) and hashes local videos (their
content is part of the cache key), both regular files read no further than
the API's size limits (lint refused anything else).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from storyboard.compile.placeholders import Placeholder, substitute
from storyboard.compile.references import FrameSource
from storyboard.compile.specs import TaskSpec
from storyboard.errors import FileTooLarge
from storyboard.language.model import Asset, Storyboard
from storyboard.localfile import open_regular, read_bounded
from storyboard.provider import api


class Inputs:
    """Reads and hashes local media once per compile."""

    def __init__(self, story: Storyboard) -> None:
        self.story = story
        self._b64: dict[Path, str] = {}
        self._sha: dict[Path, str] = {}

    def path(self, asset: Asset) -> Path:
        return (asset.base_dir / (asset.source or "")).resolve()

    def image_url(self, asset: Asset) -> str:
        if asset.is_url:
            return asset.source or ""
        path = self.path(asset)
        if path not in self._b64:
            data = read_bounded(path, api.MAX_IMAGE_BYTES)
            self._b64[path] = base64.b64encode(data).decode("ascii")
        return self._b64[path]

    def file_hash(self, path: Path) -> str:
        if path not in self._sha:
            digest = hashlib.sha256()
            read, limit = 0, api.MAX_VIDEO_BYTES
            with open_regular(path) as fh:
                while block := fh.read(min(1 << 20, limit + 1 - read)):
                    digest.update(block)
                    read += len(block)
            if read > limit:
                raise FileTooLarge(path, read, limit)
            self._sha[path] = digest.hexdigest()
        return self._sha[path]

    def video_url(self, asset: Asset) -> tuple[str, str | None]:
        """(video_url or placeholder, content hash of a local file or None)."""
        if asset.is_url:
            return asset.source or "", None
        path = self.path(asset)
        rel = path.relative_to(self.story.base_dir.resolve()).as_posix()
        digest = self.file_hash(path)
        if self.story.assets_base_url:
            return self.story.assets_base_url + rel, digest
        return Placeholder.file(rel).format(), digest


def _frame_url(source: FrameSource, story: Storyboard, inputs: Inputs) -> str:
    if source.placeholder is not None:
        return source.placeholder
    return inputs.image_url(story.assets[source.asset or ""])


def build_payload(spec: TaskSpec, story: Storyboard, inputs: Inputs) -> dict[str, Any]:
    """The exact request body of R1-R23 for one task (placeholders included)."""
    scene = spec.scene
    settings = scene.settings
    payload: dict[str, Any] = {"model": settings.model}
    prompts = spec.resolved.prompts
    if len(prompts) > 1:
        payload["multi_shot"] = True
        payload["shot_type"] = api.SHOT_TYPE
        payload["multi_prompt"] = [
            {"index": i, "prompt": text, "duration": str(shot.duration)}
            for i, (shot, text) in enumerate(zip(spec.shots, prompts, strict=True), start=1)
        ]
    else:
        payload["multi_shot"] = False
        payload["prompt"] = prompts[0]
    base_edit = spec.is_edit
    if not base_edit:
        payload["duration"] = str(spec.seconds)
    if spec.resolved.images:
        payload["image_list"] = [
            {
                "image_url": _frame_url(slot.source, story, inputs),
                **({"type": slot.type} if slot.type else {}),
            }
            for slot in spec.resolved.images
        ]
    if spec.resolved.elements:
        payload["element_list"] = [{"element_id": e.element_id} for e in spec.resolved.elements]
    if spec.video is not None:
        payload["video_list"] = [_video_item(spec, story, inputs)]
    payload["sound"] = "on" if settings.sound else "off"
    payload["mode"] = settings.mode
    if not base_edit and not spec.resolved.first_frame:
        payload["aspect_ratio"] = settings.aspect_ratio
    payload["watermark_info"] = {"enabled": settings.watermark}
    return payload


def _video_item(spec: TaskSpec, story: Storyboard, inputs: Inputs) -> dict[str, Any]:
    ref = spec.video
    assert ref is not None
    if ref.asset is not None:
        asset = story.assets[ref.asset]
        url, _ = inputs.video_url(asset)
        keep = asset.keep_sound if ref.keep_sound is None else ref.keep_sound
    else:
        assert spec.video_source is not None  # lint refused an edit of an unknown scene
        url = Placeholder(spec.video_source, "video_url").format()
        source_scene = story.scene(ref.scene or "")
        had_sound = bool(source_scene and source_scene.settings.sound)
        keep = had_sound if ref.keep_sound is None else ref.keep_sound
    return {
        "video_url": url,
        "refer_type": ref.refer,
        "keep_original_sound": "yes" if keep else "no",
    }


def cache_key(payload: dict[str, Any], upstream: dict[str, str], files: list[str]) -> str:
    """SHA-256 of the canonical payload, upstream placeholders replaced by their keys.

    A change upstream therefore changes every key downstream; local videos
    count by content, so replacing a file re-renders what uses it.
    """

    def swap(found: Placeholder) -> str | None:
        if found.is_file:
            return None
        return f"${{key:{upstream[found.task]}:{found.kind}}}"

    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    canonical = substitute(canonical, swap)
    material = json.dumps({"payload": canonical, "files": sorted(files)}, sort_keys=True)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def external_task_id(key: str) -> str:
    """R23: derived from the cache key, so a resubmission after a crash is found, not paid."""
    return f"sb-{key[:40]}"
