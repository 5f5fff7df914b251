"""The review page: one Jinja2 template, served live or written as plain files.

Both ways use the same names for the files the page shows (`media/film.mp4`,
`media/clips/TASK@K.mp4`, `media/refs/TASK-N.jpg`), relative to the page, so
the live page and the static copy are the same HTML but for the buttons. Only
the files in `media_files(review)` exist under those names: the server looks a
request up in that table and never turns a URL into a path.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape

from storyboard import scratch
from storyboard.pipeline import compile_storyboard
from storyboard.review.gather import Review, TakeRow, TaskTakes, Workspace, gather

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
FILM = "media/film.mp4"

_env = Environment(
    loader=PackageLoader("storyboard.review", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def clip_name(row: TakeRow) -> str:
    return f"media/clips/{row.label}.mp4"


def ref_name(task: TaskTakes, index: int) -> str:
    ref = task.references[index]
    if ref.path is not None:
        return f"media/refs/{task.task.id}-{index + 1}{ref.path.suffix.lower()}"
    return f"media/refs/{task.task.id}-{index + 1}.{_EXTENSIONS.get(ref.media_type, 'img')}"


def media_files(review: Review) -> dict[str, Path | bytes]:
    """Every file the page may show, by its name on the page: a path to serve or
    copy, or the bytes of an image that was inlined in a payload."""
    files: dict[str, Path | bytes] = {}
    if review.film is not None:
        files[FILM] = review.film
    for task in review.tasks:
        for row in task.takes:
            if row.clip is not None:
                files[clip_name(row)] = row.clip
        for i, ref in enumerate(task.references):
            source = ref.path if ref.path is not None else ref.data
            if source is not None:
                files[ref_name(task, i)] = source
    return files


def render_page(review: Review, *, live: bool, state: str = "") -> str:
    """The page's HTML; `live`: with the pick and reject buttons and the polling
    that reloads it when a take or the film changes (`state` is what it compares)."""
    duration = sum(b.duration for b in review.timeline) or 1.0
    return _env.get_template("review.html.j2").render(
        review=review,
        live=live,
        state=state,
        film=FILM if review.film is not None else None,
        film_seconds=duration,
        clip_name=clip_name,
        ref_name=ref_name,
        url=lambda name: quote(name),
    )


def fingerprint(workspace: Workspace, review: Review | None) -> str:
    """A hash of what the page shows, from file names, sizes and times alone (no
    compile, no hashing of clips): the storyboard and the files beside it, the
    selection, the build's plan, run record, clips, frames and film, the journal,
    and the shelf entries of every task's request."""
    digest = hashlib.sha256()
    build = workspace.build_dir
    watched = [
        *sorted(workspace.story_path.parent.glob("*.yaml")),
        build / "plan.json",
        build / "run.json",
        build / "journal.sqlite-wal",
        build / "journal.sqlite",
        *sorted((build / "clips").glob("*.mp4")),
        *sorted((build / "frames").glob("*.jpg")),
    ]
    if review is not None:
        if review.film is not None:
            watched.append(review.film)
        for task in review.tasks:
            key = task.task.cache_key
            shelf = workspace.cache.root / "clips" / workspace.cache.source / key[:2]
            watched.extend(sorted(shelf.glob(f"{key}*.json")))
    for path in watched:
        try:
            st = path.stat()
        except OSError:
            digest.update(f"{path}:-\n".encode())
            continue
        digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def export_static(workspace: Workspace, out: Path) -> Path:
    """Write the read-only page with copies of its clips, film and pictures."""
    review = gather(compile_storyboard(workspace.story_path), workspace)
    out.mkdir(parents=True, exist_ok=True)
    for name, source in media_files(review).items():
        dest = out / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, bytes):
            scratch.atomic_write(dest, source)
        else:
            shutil.copyfile(source, dest)
    index = out / "index.html"
    scratch.atomic_write(index, render_page(review, live=False))
    return index
