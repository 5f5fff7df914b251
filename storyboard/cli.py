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


def _build_dir(story_path: Path, build_dir: str | None) -> Path:
    return Path(build_dir) if build_dir else story_path.parent / "build"


def _compile_or_report(story_path: Path) -> Any:
    """Lint + compile; on problems print them (text) and exit 1."""
    from storyboard.compile import compile_storyboard
    from storyboard.errors import InputProblems

    try:
        return compile_storyboard(story_path)
    except InputProblems as exc:
        click.echo(FORMATTERS["text"](exc.problems, [str(story_path)]), err=True)
        sys.exit(EXIT_PROBLEMS)


BUILD_DIR = click.option(
    "--build-dir", type=click.Path(file_okay=False), help="Default: build/ beside the storyboard."
)


@main.command(name="compile")
@click.argument("storyboard", type=click.Path(dir_okay=False))
@BUILD_DIR
@friendly
def compile_command(storyboard: str, build_dir: str | None) -> None:
    """Write plan.json and tasks/<id>.json: the exact requests, their graph and cost."""
    from storyboard.compile import write_plan

    path = _existing_file(storyboard)
    plan = _compile_or_report(path)
    out = write_plan(plan, _build_dir(path, build_dir))
    click.echo(
        f"{out}: {len(plan.tasks)} task(s), {sum(t.seconds for t in plan.tasks):g} s, "
        f"estimated ${plan.total_cost:.2f}"
    )


@main.command()
@click.argument("storyboard", type=click.Path(dir_okay=False))
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Clip cache location.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@friendly
def plan(storyboard: str, cache_dir: str | None, as_json: bool) -> None:
    """Show what would run: tasks, shots, seconds, dependencies, cache hits, cost."""
    from storyboard.cache import ClipCache
    from storyboard.report import plan_rows, plan_table

    path = _existing_file(storyboard)
    compiled = _compile_or_report(path)
    cache = ClipCache(Path(cache_dir) if cache_dir else None)
    rows = plan_rows(compiled, cache)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    plan_table(compiled, rows)


@main.command()
@click.argument("storyboard", type=click.Path(dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True
)
@friendly
def graph(storyboard: str, fmt: str) -> None:
    """Print the task graph as Mermaid or Graphviz DOT."""
    from storyboard.report import graph_dot, graph_mermaid

    compiled = _compile_or_report(_existing_file(storyboard))
    click.echo(graph_mermaid(compiled) if fmt == "mermaid" else graph_dot(compiled))
