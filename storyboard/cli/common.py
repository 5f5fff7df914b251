"""What every command shares: the error boundary (`friendly`), exit codes, the
storyboard and build-folder arguments, and choosing tasks by name."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from storyboard.errors import EnvironmentProblem, Interrupted, StoryboardError, UsageError
from storyboard.lint.formatters import FORMATTERS
from storyboard.signals import interrupted_by

if TYPE_CHECKING:
    from storyboard.compile.compiler import Compilation

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
DATABASE_ENV = "STORYBOARD_DATABASE"  # --database of render, status, worker, callback-server


def friendly(func: F) -> F:
    """Turn our own errors and the machine's into one line and an exit code, never a
    traceback; an exception group (asyncio's task groups) is judged by its first
    error. Anything else is a bug, and keeps its traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BrokenPipeError:
            _reader_gone()
        except (StoryboardError, KeyboardInterrupt, OSError, BaseExceptionGroup) as exc:
            first: BaseException = exc
            while isinstance(first, BaseExceptionGroup) and first.exceptions:
                first = first.exceptions[0]
            said = _said(first)
            if said is None:
                raise
            click.echo(f"storyboard: {said[0]}", err=True)
            sys.exit(said[1])

    return wrapper  # type: ignore[return-value]


def _reader_gone() -> None:
    """The reader of our output left (`storyboard explain --list | head`): nothing
    is wrong and nothing more can be said; exit as a program killed by SIGPIPE
    would, without a message or Python's complaint about the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(128 + signal.SIGPIPE)


def _said(exc: BaseException) -> tuple[str, int] | None:
    """What to say about `exc` and the exit code; None for a bug."""
    if isinstance(exc, StoryboardError):
        usage = isinstance(exc, UsageError | EnvironmentProblem)
        return str(exc), EXIT_USAGE if usage else EXIT_PROBLEMS
    if isinstance(exc, KeyboardInterrupt):
        how = interrupted_by()
        said = "interrupted" + (f" ({how.name})" if how != signal.SIGINT else "")
        if isinstance(exc, Interrupted):  # what is in flight, what is kept, what to run next
            said += f": {exc.left}"
        return said, 128 + how
    if isinstance(exc, OSError):  # the disk, not the storyboard: a full disk, a bad --build-dir
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot use{where}: {exc.strerror or exc}", EXIT_USAGE
    return None


def existing_file(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{path}: no such file")
    return p


def build_dir_of(story_path: Path, build_dir: str | None) -> Path:
    """`--build-dir`, else `build/<stem>/` beside the storyboard: two storyboards in
    one folder never share a plan, a journal, clips or a film."""
    return Path(build_dir) if build_dir else story_path.parent / "build" / story_path.stem


def compile_or_report(story_path: Path) -> Compilation:
    """Lint + compile; on problems print them (text) and exit 1."""
    from storyboard.errors import InputProblems
    from storyboard.pipeline import compile_storyboard

    try:
        return compile_storyboard(story_path)
    except InputProblems as exc:
        click.echo(FORMATTERS["text"](exc.problems, [str(story_path)]), err=True)
        sys.exit(EXIT_PROBLEMS)


CACHE = click.option(
    "--cache",
    "--cache-dir",
    "cache",
    metavar="PATH|URL",
    help="The clip cache: a folder, file:///FOLDER, or s3://BUCKET/PREFIX shared by many "
    "machines and mirrored in the local folder (endpoint and keys from the AWS_* variables "
    "or AWS_PROFILE; needs storyboard[s3]). Default: $STORYBOARD_CACHE, else "
    "$XDG_CACHE_HOME/storyboard or ~/.cache/storyboard. --cache-dir is its older name.",
)

BUILD_DIR = click.option(
    "--build-dir",
    type=click.Path(file_okay=False),
    help="Default: build/<stem>/ beside the storyboard.",
)


def backend_option(why: str) -> Callable[[F], F]:
    return click.option(
        "--backend",
        type=click.Choice(["preview", "kirin"]),
        default="preview",
        show_default=True,
        help=why,
    )


def chosen_tasks(
    plan: Compilation, values: tuple[str, ...], what: str = "--select/--force"
) -> frozenset[str]:
    """Task ids chosen by task id, scene id, or `+scene` (the scene and everything
    downstream); `what` names the argument in the message about an unknown one."""
    chosen: set[str] = set()
    for value in values:
        downstream = value.startswith("+")
        name = value.removeprefix("+")
        matched = [t.id for t in plan.tasks if name in (t.id, t.scene)]
        if not matched:
            known = ", ".join(dict.fromkeys(t.scene for t in plan.tasks))
            raise UsageError(f"{what} {value!r}: no such task or scene (scenes: {known})")
        for task_id in matched:
            chosen.add(task_id)
            if downstream:
                chosen.update(plan.graph.descendants(task_id))
    return frozenset(chosen)


def stacked(*decorators: Callable[[Any], Any]) -> Callable[[F], F]:
    """Several click decorators as one, applied in the order they are listed (the
    first is the outermost, as if they were written one above the other)."""

    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply
