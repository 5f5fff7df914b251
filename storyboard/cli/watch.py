"""`storyboard render --watch`: render again on every save, until Ctrl-C.

One pass at start, then one per batch of saves to the files the storyboard is
made of: the storyboard, the includes lint read, the local assets it names (a
missing one too: creating it is a change) and its selection file. A pass is
`render`'s own (`render.render_pass`), so the cache decides what is sent: an
edited prompt renders that task alone, and the film is re-cut.

What wakes the loop is watchfiles (inotify, or polling), watching the folders of
those files and filtering to them; what decides that something changed is each
file's stat (inode, size, mtime), compared with what it was when the last pass
read it. So a save made during a pass runs another pass after it, a watcher
started a moment late misses nothing (it also wakes up each second to look),
and a batch of events that changed nothing (a touch of the build folder, an
editor's backup file) starts no pass.

A pass with lint errors prints them and sends nothing; the loop waits for a fix.
A watch never asks before spending: `--backend kirin` needs `--max-cost`, which
holds for the whole watch: each pass may spend what the passes before it left
(read from the run.json each pass writes), and a pass over that is refused (the
usual message) while the loop keeps watching.
SIGINT or SIGTERM stop it: "stopped watching", exit 0 when idle, 128 + the
signal's number mid-pass (as `render` exits when interrupted; the run records
itself as interrupted and no film is left half written).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from storyboard.cli.common import EXIT_OK, build_dir_of, chosen_tasks
from storyboard.errors import EnvironmentProblem, Interrupted, StoryboardError, UsageError
from storyboard.signals import interrupted_by

if TYPE_CHECKING:
    from storyboard.language.model import Storyboard
    from storyboard.problems import Problem

INSTALL = "pip install 'storyboard[watch]'"
LOOK_MS = 1000  # the watcher also wakes this often to compare the files' stats
Stat = tuple[int, int, int] | None  # inode, size, mtime in ns; None: no such file


def watch_storyboard(path: Path, select: tuple[str, ...], common: dict[str, Any]) -> int:
    """Run `render` on `path` now and after each save, until interrupted; the exit code.

    `common` holds `render`'s options (backend, build folder, jobs, cost, cache...)."""
    if common["backend"] == "kirin" and common["max_cost"] is None:
        raise UsageError(
            "--watch with --backend kirin needs --max-cost: a watch never asks before "
            "spending, so say how much one pass may spend (a pass over it sends nothing)"
        )
    watch = _watchfiles()
    build = build_dir_of(path, common["build_dir"])
    skip = (_absolute(build), _absolute(_cache_root(common["cache"])))
    files = _always(path)
    in_pass, spent = False, 0.0
    try:
        while True:
            in_pass = True
            before = {p: _stat(p) for p in files}
            left = None if common["max_cost"] is None else max(0.0, common["max_cost"] - spent)
            record = _stat(build / "run.json")
            try:
                made = _one_pass(path, select, {**common, "max_cost": left}, files)
            finally:
                spent += _billed(build / "run.json", record)
            files = frozenset(p for p in made if not _inside(p, skip))
            if common["max_cost"] is not None and spent:
                click.echo(
                    f"this watch has spent ${spent:.2f} of --max-cost ${common['max_cost']:.2f}",
                    err=True,
                )
            in_pass = False
            seen = {p: before[p] if p in before else _stat(p) for p in files}
            click.echo(f"watching {len(files)} files (Ctrl-C to stop)", err=True)
            changed = _wait(watch, files, seen)
            click.echo(f"changed: {', '.join(_names(changed, path.parent))}", err=True)
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted):  # what a pass left: in flight, kept, next
            click.echo(f"storyboard: interrupted: {exc.left}", err=True)
        click.echo("stopped watching", err=True)
        return 128 + interrupted_by() if in_pass else EXIT_OK


def _watchfiles() -> Any:
    """watchfiles' `watch`, or the line that says how to install it."""
    try:
        from watchfiles import watch
    except ImportError:
        raise EnvironmentProblem(f"--watch needs the watchfiles package: {INSTALL}") from None
    return watch


def _one_pass(
    path: Path, select: tuple[str, ...], common: dict[str, Any], previous: frozenset[Path]
) -> frozenset[Path]:
    """Lint, compile and render once; the files to watch next. While lint finds
    errors nothing is sent, and the files watched stay those of the last good pass
    (plus the ones the problems are in: a broken include is fixed there)."""
    from storyboard.cli.render import render_pass
    from storyboard.errors import InputProblems
    from storyboard.lint.formatters import FORMATTERS
    from storyboard.pipeline import compile_storyboard

    try:
        plan = compile_storyboard(path)
    except InputProblems as exc:
        click.echo(FORMATTERS["text"](exc.problems, [str(path)]), err=True)
        click.echo("waiting for a fix: nothing is sent while the storyboard has errors", err=True)
        return previous | _always(path) | _problem_files(exc.problems, path) | _named_now(path)
    files = _always(path) | _story_files(plan.story)
    try:
        only = chosen_tasks(plan, select) if select else None
        # yes=True: a watch never asks; --max-cost (required with kirin) still refuses
        render_pass(plan, path, retakes={}, only=only, stitch_film=True, **{**common, "yes": True})
    except StoryboardError as exc:  # a refused spend, a film that cannot be cut, a lock
        click.echo(f"storyboard: {exc}", err=True)
    return files


def _billed(record: Path, before: Stat) -> float:
    """What the pass that rewrote run.json was billed (0 if it wrote none)."""
    if _stat(record) == before:
        return 0.0
    try:
        totals = json.loads(record.read_text(encoding="utf-8"))["totals"]
        return float(totals["billed_this_run_usd"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def _always(path: Path) -> frozenset[Path]:
    """The storyboard and its selection file, watched whatever lint found."""
    from storyboard.language.selection import selection_path

    return frozenset(p for p in map(_absolute, (path, selection_path(path))) if p is not None)


def _story_files(story: Storyboard) -> frozenset[Path]:
    """What the storyboard is made of on disk: the files read (itself and its includes),
    its local assets and its music, whether they exist now or not."""
    named = [*story.doc.files]
    named += [a.base_dir / a.source for a in story.assets.values() if a.is_local and a.source]
    music = story.audio.music if story.audio is not None else None
    if music and not music.startswith(("http://", "https://")):
        named.append(story.base_dir / music)
    return frozenset(p for p in map(_absolute, named) if p is not None)


def _named_now(path: Path) -> frozenset[Path]:
    """The files the storyboard names as it stands, errors and all (an asset missing
    now is watched, so that making it runs a pass); loaded, not linted again."""
    from storyboard.language.load import load_document
    from storyboard.language.model import build_storyboard

    doc, _ = load_document(path)
    return frozenset() if doc is None else _story_files(build_storyboard(doc))


def _problem_files(problems: list[Problem], path: Path) -> frozenset[Path]:
    """The files lint's problems are in, within the storyboard's folder."""
    root = _absolute(path.parent)
    found = (_absolute(Path(p.file)) for p in problems if p.file)
    return frozenset(p for p in found if p is not None and root is not None and _inside(p, (root,)))


def _wait(watch: Any, files: frozenset[Path], seen: dict[Path, Stat]) -> list[Path]:
    """Block until a file of `files` is not as `seen`; the ones that changed."""
    while True:
        folders = _folders(files)
        try:
            for _ in watch(
                *folders,
                watch_filter=_only(files),
                rust_timeout=LOOK_MS,
                yield_on_timeout=True,
                recursive=False,
            ):
                changed = [p for p in sorted(files) if _stat(p) != seen[p]]
                if changed:
                    return changed
                if _folders(files) != folders:  # a missing folder was made: watch it
                    break
        except FileNotFoundError:  # a folder removed as the watcher started: look again
            continue


def _only(files: frozenset[Path]) -> Callable[[Any, str], bool]:
    """watchfiles' filter: a watched file, or a folder on the way to one (made or
    removed: a missing asset's folder); the build folder and the rest never pass."""
    wanted = {str(p) for p in files} | {str(f) for p in files for f in p.parents}
    return lambda _change, name: name in wanted


def _folders(files: frozenset[Path]) -> list[Path]:
    """The folders to watch: each file's own, or its nearest existing ancestor until
    the folder is made (its creation shows there)."""
    return sorted({next(f for f in p.parents if f.is_dir()) for p in files})


def _stat(path: Path) -> Stat:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _absolute(path: Path) -> Path | None:
    """`path` resolved (symlinks too, as the watcher reports them); None when the OS
    refuses it (a NUL byte, a symlink loop), which lint reports at its line."""
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError):
        return None


def _inside(path: Path | None, folders: tuple[Path | None, ...]) -> bool:
    return path is not None and any(f is not None and path.is_relative_to(f) for f in folders)


def _cache_root(cache: str | None) -> Path:
    """The cache's folder (a shared cache's mirror): never a file to watch."""
    from storyboard.run.cache import open_cache

    return open_cache(cache).root


def _names(paths: list[Path], folder: Path) -> Iterator[str]:
    base = _absolute(folder)
    for p in paths:
        yield str(p.relative_to(base)) if base is not None and p.is_relative_to(base) else str(p)
