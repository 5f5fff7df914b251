"""`storyboard diff`: what a change would cost, for a pull request.

Only click and the shared options are imported here; the comparison and the
compiler load inside the command, so that `storyboard --help` stays quick.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from storyboard.cli.common import (
    BUILD_DIR,
    CACHE,
    backend_option,
    build_dir_of,
    compile_or_report,
    existing_file,
    friendly,
)


@click.command()
@click.argument("storyboard", type=click.Path(dir_okay=False))
@click.option(
    "--base",
    metavar="REF|FILE",
    help="Compare with this storyboard file, or with the storyboard at this git ref "
    "(default: HEAD).",
)
@backend_option("Whose clips count as cached (each backend has its own shelf).")
@click.option("--base-url", help="kirin: provider base URL (else $KIRIN_BASE_URL).")
@CACHE
@BUILD_DIR
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="markdown: a pull request's comment; json: the object described above.",
)
@friendly
def diff(
    storyboard: str,
    base: str | None,
    backend: str,
    base_url: str | None,
    cache: str | None,
    build_dir: str | None,
    fmt: str,
) -> None:
    """Compare the storyboard with a base: tasks added, removed, changed (and which
    fields), unchanged; which are cached; what the change costs at list prices.

    \b
    --format json prints one object (version 1):
      storyboard, base {ref, file, state: compiled|absent|broken},
      backend, shelf, prices ("list"),
      tasks [{task, status: added|removed|changed|unchanged,
              changes [{field, label, old, new}], cached, takes,
              cached_takes, seconds, cost_usd}],
      counts {added, removed, changed, unchanged},
      to_send {tasks, takes, seconds, cost_usd},
      reused {clips, cost_when_made_usd, list_usd},
      film {seconds, base_seconds}
    """
    from storyboard.compare.base import base_storyboard
    from storyboard.compare.fields import Names
    from storyboard.compare.plans import compare
    from storyboard.compare.views import as_json, as_markdown, as_text
    from storyboard.errors import InputProblems
    from storyboard.pipeline import compile_storyboard
    from storyboard.run.backends import backend_shelf
    from storyboard.run.cache import open_cache

    path = existing_file(storyboard)
    head = compile_or_report(path)
    head_plan = head.plan(build_dir_of(path, build_dir))
    shelf = backend_shelf(open_cache(cache), backend, head_plan, base_url)
    with base_storyboard(path, base, head.story.asset_root) as found:
        base_plan, base_names, state = None, None, "absent"
        if found.path is not None:
            try:
                compiled = compile_storyboard(found.path)
            except InputProblems as exc:
                state = "broken"
                errors = [p for p in exc.problems if p.is_error] or exc.problems
                first = errors[0] if errors else None
                said = (
                    f" ({Path(first.file).name}:{first.line}: {first.code} {first.message})"
                    if first is not None
                    else ""
                )
                click.echo(f"storyboard: the base {found.label} does not compile{said}", err=True)
            else:
                state = "compiled"
                with tempfile.TemporaryDirectory(prefix="storyboard-diff-build-") as scratch:
                    base_plan = compiled.plan(Path(scratch))
                base_names = Names.of(compiled.story)
        result = compare(
            base_plan,
            head_plan,
            shelf,
            base_state=state,
            base_names=base_names,
            head_names=Names.of(head.story),
        )
    if fmt == "json":
        where = {"ref": found.ref, "file": found.file, "state": state}
        click.echo(json.dumps(as_json(result, storyboard, where, backend), indent=2))
    elif fmt == "markdown":
        click.echo(as_markdown(result, storyboard, found.label))
    else:
        click.echo(as_text(result, storyboard, found.label))


COMMANDS = (diff,)
