"""The `storyboard` command line. Exit codes: 0 clean, 1 problems (or a failed
task), 2 usage or environment error. No traceback reaches the user."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from storyboard import __version__
from storyboard.errors import EnvironmentProblem, StoryboardError, UsageError
from storyboard.formatters import FORMATTERS
from storyboard.lint import expand_paths, lint_file
from storyboard.schema import STORYBOARD_SCHEMA

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def friendly(func: F) -> F:
    """Turn our own errors into a message and an exit code, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (UsageError, EnvironmentProblem) as exc:
            click.echo(f"storyboard: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except StoryboardError as exc:
            click.echo(f"storyboard: {exc}", err=True)
            sys.exit(EXIT_PROBLEMS)
        except KeyboardInterrupt:
            click.echo("storyboard: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="storyboard")
def main() -> None:
    """Turn a storyboard written in YAML into a finished film."""


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format", "fmt", type=click.Choice(sorted(FORMATTERS)), default="text", show_default=True
)
@click.option("--strict", is_flag=True, help="Warnings count as errors for the exit code.")
@click.option("--check-urls", is_flag=True, help="Also fetch http(s) assets to check them.")
@friendly
def lint(paths: tuple[str, ...], fmt: str, strict: bool, check_urls: bool) -> None:
    """Check storyboards (files, directories or globs) against the language and API rules."""
    files, missing = expand_paths(paths)
    for arg in missing:
        click.echo(f"storyboard: no storyboard found at {arg}", err=True)
    if missing:
        sys.exit(EXIT_USAGE)
    problems = []
    for file in files:
        problems.extend(lint_file(file, check_urls=check_urls).problems)
    output = FORMATTERS[fmt](problems, [str(f) for f in files])
    if output:
        click.echo(output)
    failing = [p for p in problems if p.is_error or strict]
    sys.exit(EXIT_PROBLEMS if failing else EXIT_OK)


@main.command()
@friendly
def schema() -> None:
    """Print the storyboard JSON Schema (for editors and validators)."""
    click.echo(json.dumps(json.loads(STORYBOARD_SCHEMA.read_text(encoding="utf-8")), indent=2))


def _existing_file(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{path}: no such file")
    return p
