"""The `storyboard` command line. Exit codes: 0 clean, 1 problems (or a failed
task), 2 usage or environment error. No traceback reaches the user.

This module holds the group and the small commands; the others live beside it
(`render`: render and stitch), all sharing `common`.

Start-up is kept small: `--help`, `--version` and a lint must not pay for
what only other commands use (the compiler's graph library, PyAV, HTTP,
the servers), so each command imports its stage inside its body, and this
module imports only click and what the group's options need.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from storyboard import __version__, scratch
from storyboard.cli import callbacks as callback_commands
from storyboard.cli import diff as diff_commands
from storyboard.cli import explain as explain_commands
from storyboard.cli import export as export_commands
from storyboard.cli import fleet as fleet_commands
from storyboard.cli import render as render_commands
from storyboard.cli import takes as take_commands
from storyboard.cli.common import (
    BUILD_DIR,
    CACHE,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    backend_option,
    build_dir_of,
    compile_or_report,
    existing_file,
    friendly,
)
from storyboard.errors import UsageError
from storyboard.lint.formatters import FORMATTERS
from storyboard.problems import Problem
from storyboard.signals import interrupt_on_sigterm

__all__ = ["EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "friendly", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="storyboard")
def main() -> None:
    """Turn a storyboard written in YAML into a finished film."""
    interrupt_on_sigterm()


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format", "fmt", type=click.Choice(sorted(FORMATTERS)), default="text", show_default=True
)
@click.option("--strict", is_flag=True, help="Warnings count as errors for the exit code.")
@click.option("--check-urls", is_flag=True, help="Also fetch http(s) assets to check them.")
@click.option(
    "--allow-private-urls",
    is_flag=True,
    help="With --check-urls, also fetch from loopback and private hosts (intranet assets).",
)
@friendly
def lint(
    paths: tuple[str, ...], fmt: str, strict: bool, check_urls: bool, allow_private_urls: bool
) -> None:
    """Check storyboards (files, directories or globs) against the language and API rules."""
    from storyboard.lint.engine import expand_paths, lint_file

    files, missing = expand_paths(paths)
    for arg in missing:
        click.echo(f"storyboard: no storyboard found at {arg}", err=True)
    if missing:
        sys.exit(EXIT_USAGE)
    problems: list[Problem] = []
    linted: list[str] = []
    for file in files:
        result = lint_file(file, check_urls=check_urls, allow_private_urls=allow_private_urls)
        problems.extend(result.problems)
        linted.extend(str(f) for f in result.files)  # with its selection file, if any
    output = FORMATTERS[fmt](problems, linted)
    if output:
        click.echo(output)
    failing = [p for p in problems if p.fails(strict=strict)]
    sys.exit(EXIT_PROBLEMS if failing else EXIT_OK)


@main.command()
@friendly
def schema() -> None:
    """Print the storyboard JSON Schema (for editors and validators)."""
    from storyboard.language.schema import STORYBOARD_SCHEMA

    click.echo(json.dumps(json.loads(STORYBOARD_SCHEMA.read_text(encoding="utf-8")), indent=2))


@main.command(name="compile")
@click.argument("storyboard", type=click.Path(dir_okay=False))
@BUILD_DIR
@friendly
def compile_command(storyboard: str, build_dir: str | None) -> None:
    """Write plan.json and tasks/<id>.json: the exact requests, their graph and cost."""
    from storyboard.compile.compiler import write_plan

    path = existing_file(storyboard)
    plan = compile_or_report(path)
    out = write_plan(plan, build_dir_of(path, build_dir))
    click.echo(
        f"{out}: {len(plan.tasks)} task(s), {plan.total_seconds:g} s, "
        f"estimated ${plan.total_cost:.2f}"
    )


@main.command()
@click.argument("storyboard", type=click.Path(dir_okay=False))
@backend_option("Whose clips count as cached (each backend has its own).")
@click.option("--base-url", help="kirin: provider base URL (else $KIRIN_BASE_URL).")
@CACHE
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@BUILD_DIR
@friendly
def plan(
    storyboard: str,
    backend: str,
    base_url: str | None,
    cache: str | None,
    as_json: bool,
    build_dir: str | None,
) -> None:
    """Show what would run: tasks, shots, seconds, dependencies, cache hits, cost."""
    from storyboard.provider.config import override_file
    from storyboard.provider.pricing import PRICES_ENV
    from storyboard.report import Shelf, plan_rows, plan_table
    from storyboard.run.backends import backend_shelf, backend_source
    from storyboard.run.cache import open_cache

    path = existing_file(storyboard)
    compiled = compile_or_report(path).plan(build_dir_of(path, build_dir))
    source = backend_source(backend, base_url)
    prices = override_file(None, PRICES_ENV)
    shelf = Shelf(
        backend,
        source,
        bills=backend != "preview",  # the preview's animatics are free
        prices=f"kirin prices from {prices}" if prices else "kirin list prices",
    )
    clips = backend_shelf(open_cache(cache), backend, compiled, base_url)
    rows = plan_rows(compiled, clips, shelf)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    plan_table(compiled, rows, shelf)


@main.command()
@click.argument("storyboard", type=click.Path(dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True
)
@BUILD_DIR
@friendly
def graph(storyboard: str, fmt: str, build_dir: str | None) -> None:
    """Print the task graph as Mermaid or Graphviz DOT."""
    from storyboard.report import graph_dot, graph_mermaid

    path = existing_file(storyboard)
    compiled = compile_or_report(path).plan(build_dir_of(path, build_dir))
    click.echo(graph_mermaid(compiled) if fmt == "mermaid" else graph_dot(compiled))


@main.command(name="mock-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--api-key", help="Accept only this bearer key (default: any non-empty key).")
@click.option(
    "--config",
    "config_json",
    help="Mock settings as JSON text or a JSON file (latency, fault rates, seed, ...).",
)
@friendly
def mock_server(host: str, port: int, api_key: str | None, config_json: str | None) -> None:
    """Serve the provider API on this machine, rendering previews, with fault injection."""
    from storyboard.mock.server import MockConfig, serve

    config = MockConfig.from_json(config_json) if config_json else MockConfig()
    if api_key:
        import dataclasses

        config = dataclasses.replace(config, api_key=api_key)
    click.echo(f"mock provider on http://{host}:{port} (stats: /_mock/stats)", err=True)
    serve(host, port, config)


@main.command()
@click.argument("path", type=click.Path(), default="storyboard.yaml")
@click.option("--title", default="My first film", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@friendly
def init(path: str, title: str, force: bool) -> None:
    """Write a starter storyboard that lints clean and renders with the preview backend.

    PATH is the file to write, or a folder (an existing one, or any path ending
    in a slash) to write storyboard.yaml in."""
    from storyboard.language.starter import starter_storyboard

    target = Path(path)
    if path.endswith(("/", "\\")) or target.is_dir():
        target = target / "storyboard.yaml"
    if target.is_dir():
        raise UsageError(f"{target} is a folder; name the file to write")
    if target.exists() and not force:
        raise UsageError(f"{target} exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch.atomic_write(target, starter_storyboard(title, target.parent))
    click.echo(f"wrote {target}; next: storyboard lint {target} && storyboard render {target}")


for command in (
    *render_commands.COMMANDS,
    *take_commands.COMMANDS,
    *explain_commands.COMMANDS,
    *diff_commands.COMMANDS,
    *export_commands.COMMANDS,
    *fleet_commands.COMMANDS,
    *callback_commands.COMMANDS,
):
    main.add_command(command)
