"""`storyboard explain CODE`: one lint rule, looked up by the code lint printed.

It prints what docs/rules.md says of the rule (both come from
`storyboard.lint.reference`): its API rule, severity and summary, the failing
example with the message lint prints for it (linted there and then, so it is
never out of date), and the passing example. Without a code, or with `--list`,
it lists every code.
"""

from __future__ import annotations

import click

from storyboard.cli.common import friendly
from storyboard.errors import UsageError


@click.command()
@click.argument("code", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every rule code with its summary.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown"]),
    default="text",
    show_default=True,
    help="markdown: the rule's section of docs/rules.md.",
)
@friendly
def explain(code: str | None, list_all: bool, fmt: str) -> None:
    """Explain a lint rule such as SB217: what it checks, a failing and a passing example."""
    from storyboard.lint import reference

    rules = reference.registry()
    if list_all or code is None:
        width = max(len(r.rule) for r in rules.values()) or 1
        for listed in rules.values():
            api, level = listed.rule or "-", str(listed.severity)
            click.echo(f"{listed.code}  {api:<{width}}  {level:<7}  {listed.summary}")
        return
    rule = rules.get(code.strip().upper())
    if rule is None:
        from storyboard.problems import did_you_mean

        hint = did_you_mean(code.strip().upper(), rules) or "`storyboard explain --list` lists them"
        raise UsageError(f"no such rule {code!r}; {hint}")
    printed = reference.lint_failing_example(rule)
    if fmt == "markdown":
        click.echo(reference.rule_markdown(rule, printed))
    else:
        click.echo(reference.rule_text(rule, printed))


COMMANDS: tuple[click.Command, ...] = (explain,)
