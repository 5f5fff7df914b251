"""The template sandbox: hostile prompts are refused before they take memory or time.

Each bomb below once took gigabytes (then a MemoryError traceback) or ran for
minutes; now each is a TemplateFailure of kind `sandbox`, and through the CLI
an SB403 at the prompt's line, within conftest's 1 GiB / 10 s of CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyboard.bounds import (
    MAX_CALLS,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_LOOP_ITERATIONS,
    MAX_RENDERED_CHARS,
)
from storyboard.compile.templates import render_prompt
from storyboard.errors import TemplateFailure
from tests.conftest import run_bounded

DOUBLE_LIST = "{% set l = [1] %}" + "{% set l = [l, l] %}" * 40

BOMBS = {
    # widths: padding filters, methods and both kinds of formatting
    "center": "{{ 'x'|center(10**9) }}",
    "center-literal": "{{ 'x'|center(1000000000) }}",
    "percent-width": "{{ '%1000000000s' % 1 }}",
    "percent-precision": "{{ '%.1000000000f' % 1 }}",
    "percent-key-with-parens": "{{ '%(a(b))1000000000s' % {'a(b)': 1} }}",
    "percent-star": "{{ '%*s' % (1000000000, 1) }}",
    "format-filter": "{{ '%1000000000s'|format(1) }}",
    "str-format": "{{ '{:>1000000000}'.format(1) }}",
    "str-format-nested": "{{ '{:>{}}'.format(1, 1000000000) }}",
    "str-format-map": "{{ '{a:>1000000000}'.format_map({'a': 1}) }}",
    "str-format-many": "{{ ('{:>9000}' * 200).format(*range(200)) }}",
    "indent": "{{ 'a\nb'|indent(1000000000) }}",
    "indent-string": "{{ ('a\n' * 50000)|indent('x' * 50000) }}",
    "wordwrap": "{{ 'a b'|wordwrap(1000000000) }}",
    "wordwrap-wrapstring": "{{ ('a ' * 50000)|wordwrap(1, wrapstring='x' * 50000) }}",
    "ljust": "{{ 'x'.ljust(1000000000) }}",
    "rjust": "{{ 'x'.rjust(1000000000) }}",
    "zfill": "{{ 'x'.zfill(1000000000) }}",
    "expandtabs": "{{ ('\t' * 10000).expandtabs(10000) }}",
    "tojson-indent": "{{ [[[1]]]|tojson(1000000000) }}",
    "to-bytes": "{{ (1).to_bytes(1000000000, 'big')|length }}",
    # strings and lists that grow
    "join-separator": "{{ range(100000)|join('x' * 50000) }}",
    "join-method": "{{ ('x' * 50000).join(range(100000)|map('string')) }}",
    "replace": "{{ ('x' * 100000)|replace('x', 'y' * 100000) }}",
    "replace-method": "{{ ('x' * 100000).replace('x', 'y' * 100000) }}",
    "translate": "{{ ('x' * 100000).translate({120: 'y' * 100000}) }}",
    "string-times": "{% set s = 'x' * 100000 %}{{ s * 100000 }}",
    "list-times": "{% set s = 'x' * 100000 %}{{ [s] * 100000 }}",
    "list-doubling": DOUBLE_LIST + "{{ l }}",
    "list-doubling-pprint": DOUBLE_LIST + "{{ l|pprint }}",
    "concat-doubling": "{% set s = 'x' %}" + "{% set s = s ~ s %}" * 40 + "{{ s|length }}",
    "plus-doubling": "{% set s = 'x' %}" + "{% set s = s + s %}" * 40 + "{{ s|length }}",
    "concat-in-loop": (
        "{% set ns = namespace(s='x') %}{% for i in range(100) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
    ),
    "extend-itself": (
        "{% set l = [1] %}{% for i in range(100) %}{% set _ = l.extend(l) %}{% endfor %}"
    ),
    "append-itself": "{% set l = [] %}{% set _ = l.append(l) %}{{ l }}",
    "sum-of-lists": "{{ (range(30000)|batch(1)|sum(start=[]))|length }}",
    "batch": "{{ [1]|batch(1000000000, 0)|list }}",
    "slice": "{{ [1]|slice(1000000000)|list }}",
    "list-of-range": "{{ range(100000)|list|length }}",
    "range-huge": "{{ range(10**10)|length }}",
    "range-huge-step": "{% for i in range(0, 10**30, 10**20) %}{% endfor %}",
    "lipsum": "{{ lipsum(1000000000) }}",
    "escape": "{{ ('\"' * 90000)|e }}",
    "dict-fromkeys": "{{ {}.fromkeys(range(100000), 'x' * 100000)|length }}",
    # integers
    "squaring": "{% set x = 10**1000 %}" + "{% set x = x*x %}" * 40 + "{{ x }}",
    "squaring-in-loop": (
        "{% set ns = namespace(x=10**1000) %}{% for i in range(100) %}"
        "{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x }}"
    ),
    "doubling-by-minus": (
        "{% set ns = namespace(x=3) %}{% for i in range(10000) %}"
        "{% set ns.x = ns.x - (0 - ns.x) %}{% endfor %}"
    ),
    "power": "{{ 2 ** 100000 }}",
    "power-of-big-base": "{{ (10**1000) ** 5000 }}",
    "big-literals": "{{ " + "9" * 4000 + " * " + "9" * 4000 + " }}",
    # output, loops, calls, work
    "loop-printing": "{% for i in range(10000) %}{{ 'x' * 50000 }}{% endfor %}",
    "nested-loops": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    ),
    "loop-length": "{% for i in range(100000) %}{{ loop.length }}{% endfor %}",
    "loops-in-macro": (
        "{% macro f() %}{% for i in range(9000) %}{% endfor %}{% endmacro %}"
        "{% for i in range(1000) %}{{ f() }}{% endfor %}"
    ),
    "recursive-loop": "{% for a in [1] recursive %}{{ loop([1, 1]) }}{% endfor %}",
    "macro-twice": (
        "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    ),
    "macro-as-sort-key": (
        "{% macro k(x) %}{% for i in range(10) %}{% endfor %}{% endmacro %}"
        "{% set l = range(1000)|list %}{{ l.sort(key=k) }}"
    ),
    "set-block": (
        "{% set x %}{% for i in range(10000) %}{{ 'y' * 50000 }}{% endfor %}{% endset %}"
    ),
    "text-in-loop": "{% set x %}{% for i in range(10000) %}"
    + "z" * 9000
    + "{% endfor %}{% endset %}",
    "filter-block": (
        "{% filter upper %}{% for i in range(10000) %}{{ 'x' * 5000 }}{% endfor %}{% endfilter %}"
    ),
    "cheap-body": "{% for i in range(10000) %}"
    + "{% if i > 1 %}{% endif %}" * 300
    + "{% endfor %}",
    "slow-filter-in-loop": (
        "{% set s = 'ab ' * 6000 %}{% for i in range(10000) %}"
        "{% set _ = s|wordwrap(3) %}{% endfor %}"
    ),
    "method-in-loop": (
        "{% set s = 'ab ' * 30000 %}{% for i in range(10000) %}{% set _ = s.upper() %}{% endfor %}"
    ),
    "update-in-loop": (
        "{% set d = {} %}{% for i in range(100000) %}"
        "{% set _ = d.update({i: 'x' * 1000}) %}{% endfor %}{{ d|dictsort }}"
    ),
    "long-source": "x" * 20_000,
}

# what each bomb is refused by: a bound checked before the work, not after
REFUSALS = {
    "center": "center width 1000000000 passes 10000",
    "center-literal": "center width 1000000000 passes 10000",
    "percent-width": "'%' width 1000000000 passes 10000",
    "percent-precision": "'%' width 1000000000 passes 10000",
    "percent-key-with-parens": "'%' width 1000000000 passes 10000",
    "percent-star": "'*' widths are not allowed in '%' formatting",
    "format-filter": "'%' width 1000000000 passes 10000",
    "str-format": "format width 1000000000 passes 10000",
    "str-format-nested": "format width 1000000000 passes 10000",
    "str-format-map": "format width 1000000000 passes 10000",
    "str-format-many": "format would make more than 100000 characters",
    "indent": "indent width 1000000000 passes 10000",
    "indent-string": "indent would make more than 100000 characters",
    "wordwrap": "wordwrap width 1000000000 passes 10000",
    "wordwrap-wrapstring": "wordwrap would make more than 100000 characters",
    "ljust": "ljust width 1000000000 passes 10000",
    "rjust": "rjust width 1000000000 passes 10000",
    "zfill": "zfill width 1000000000 passes 10000",
    "expandtabs": "expandtabs would make more than 100000 characters",
    "tojson-indent": "tojson width 1000000000 passes 10000",
    "to-bytes": "to_bytes width 1000000000 passes 10000",
    "join-separator": "join would make more than 100000 characters",
    "join-method": "prompt does more than 1000000 steps of work",
    "replace": "replace would make more than 100000 characters",
    "replace-method": "replace would make more than 100000 characters",
    "translate": "call would make more than 100000 characters",
    "string-times": "'*' would make more than 100000 characters",
    "list-times": "'*' would make more than 100000 characters",
    "list-doubling": "prompt output passes 100000 characters",
    "list-doubling-pprint": "pprint would make more than 100000 characters",
    "concat-doubling": "'~' would make more than 100000 characters",
    "plus-doubling": "'+' would make more than 100000 characters",
    "concat-in-loop": "'~' would make more than 100000 characters",
    "extend-itself": "extend would make more than 100000 characters",
    "append-itself": "append would make more than 100000 characters",
    "sum-of-lists": "sum would make more than 100000 characters",
    "batch": "batch width 1000000000 passes 10000",
    "slice": "slice width 1000000000 passes 10000",
    "list-of-range": "list would make more than 100000 characters",
    "range-huge": "range of more than 100000 numbers",
    "range-huge-step": "range of more than 100000 numbers",
    "lipsum": "lipsum would make more than 100000 characters",
    "escape": "e would make more than 100000 characters",
    "dict-fromkeys": "call would make more than 100000 characters",
    "squaring": "integer passes 4096 bits",
    "squaring-in-loop": "integer passes 4096 bits",
    "doubling-by-minus": "integer passes 4096 bits",
    "power": "power 100000 passes 10000",
    "power-of-big-base": "integer passes 4096 bits",
    "big-literals": "integer passes 4096 bits",
    "loop-printing": "prompt output passes 100000 characters",
    "nested-loops": "loop runs more than 10000 times",
    "loop-length": "loop runs more than 10000 times",
    "loops-in-macro": "loop runs more than 10000 times",
    "recursive-loop": "recursive loops are not allowed in prompts",
    "macro-twice": "prompt makes more than 1000 calls",
    "macro-as-sort-key": "a macro can only be called from the template",
    "set-block": "prompt does more than 1000000 steps of work",
    "text-in-loop": "prompt does more than 1000000 steps of work",
    "filter-block": "prompt does more than 1000000 steps of work",
    "cheap-body": "prompt does more than 1000000 steps of work",
    "slow-filter-in-loop": "prompt does more than 1000000 steps of work",
    "method-in-loop": "prompt does more than 1000000 steps of work",
    "update-in-loop": "prompt does more than 1000000 steps of work",
    "long-source": "prompt template passes 10000 characters",
}


@pytest.mark.parametrize("name", BOMBS)
def test_bombs_are_refused_by_the_sandbox(name: str) -> None:
    with pytest.raises(TemplateFailure) as caught:
        render_prompt(BOMBS[name], {})
    assert caught.value.kind == "sandbox"
    assert caught.value.message == REFUSALS[name]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% for i in range(10000) %}{{ 'x' * 50000 }}{% endfor %}", "prompt output passes"),
        ("{% for a in range(200) %}{% for b in range(200) %}{% endfor %}{% endfor %}", "loop"),
        ("{% set x = 10**1000 %}{% set x = x*x %}" * 3, f"passes {MAX_INT_BITS} bits"),
        ("{{ 'x'|center(10**9) }}", f"passes {MAX_FORMAT_WIDTH}"),
        (
            "{% macro f(n) %}{{ f(n - 1) if n }}{{ f(n - 1) if n }}{% endmacro %}{{ f(40) }}",
            "calls",
        ),
    ],
)
def test_a_refusal_says_which_bound(source: str, message: str) -> None:
    with pytest.raises(TemplateFailure) as caught:
        render_prompt(source, {})
    assert message in caught.value.message


def test_bounds_are_counted_across_the_whole_prompt() -> None:
    """Two loops of 6000 are each fine alone; together they pass the bound."""
    one = "{% for i in range(6000) %}{% endfor %}"
    assert render_prompt(one, {}) == ""
    with pytest.raises(TemplateFailure, match=f"more than {MAX_LOOP_ITERATIONS} times"):
        render_prompt(one + one, {})
    calls = "{% for i in range(600) %}{{ 'a'.upper() }}{% endfor %}"
    assert render_prompt(calls, {}) == "A" * 600
    with pytest.raises(TemplateFailure, match=f"more than {MAX_CALLS} calls"):
        render_prompt(calls + calls, {})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ style|upper }} rain", "NOIR rain"),
        (
            "{% for m in moods %}{{ loop.index }}:{{ m }}{{ ', ' if not loop.last }}{% endfor %}",
            "1:calm, 2:tense, 3:bright",
        ),
        (
            "{% for a in moods %}{% for b in moods %}{{ a[0] }}{{ b[0] }} {% endfor %}{% endfor %}",
            "cc ct cb tc tt tb bc bt bb ",
        ),
        (
            "{{ style|center(8) }}|{{ 'ab'|indent(2, first=true) }}|{{ '%5.1f' % 3.14159 }}",
            "  noir  |  ab|  3.1",
        ),
        ("{{ '{:>6}|{:<4}|{:^5}'.format('a', 'b', 'c') }}", "     a|b   |  c  "),
        ("{{ '%s-%03d'|format('take', 7) }} {{ 'a b c'|replace(' ', '_') }}", "take-007 a_b_c"),
        (
            "{{ moods|join(' / ') }} {{ moods|length }} {{ 2 ** 10 }} {{ 7 * 6 }}",
            "calm / tense / bright 3 1024 42",
        ),
        (
            "{{ 'ab' * 3 }} {{ [1, 2] * 2 }} {{ 'x' ~ 1 ~ 'y' }} {{ 'a' + 'b' }}",
            "ababab [1, 2, 1, 2] x1y ab",
        ),
        (
            "{% set ns = namespace(n=0) %}{% for m in moods %}{% set ns.n = ns.n + 1 %}"
            "{% endfor %}{{ ns.n }} {{ moods|batch(2)|list }}",
            "3 [['calm', 'tense'], ['bright']]",
        ),
        (
            "{{ range(3)|sum }} {{ light['intro'] }} {{ light|dictsort|first|last }}",
            "3 soft light soft light",
        ),
        (
            "{% macro shot(n) %}shot {{ n }}{% endmacro %}{{ shot(1) }}, {{ shot(2) }}",
            "shot 1, shot 2",
        ),
        ("{{ 'x' * 100000 }}", "x" * MAX_RENDERED_CHARS),
    ],
    ids=lambda value: value[:40],
)
def test_ordinary_templates_render_as_before(source: str, expected: str) -> None:
    context = {
        "style": "noir",
        "moods": ["calm", "tense", "bright"],
        "light": {"intro": "soft light"},
    }
    assert render_prompt(source, context) == expected


# --- through the CLI, under conftest's 1 GiB and 10 s of CPU -----------------------------
def _storyboard(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """One valid storyboard with a scene per bomb; each bomb's prompt line by name."""
    lines = ["storyboard: 1", "title: Bombs", "vars: {style: noir}", "scenes:"]
    where = {}
    for i, (name, source) in enumerate(BOMBS.items()):
        lines.append(f"  - id: s{i}")
        where[name] = len(lines) + 1
        lines.append(f"    prompt: {json.dumps(source)}")
        lines.append("    duration: 5")
    path = tmp_path / "storyboard.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, where


@pytest.mark.parametrize("command", ["lint", "compile"])
def test_cli_refuses_every_bomb_at_its_line(tmp_path: Path, command: str) -> None:
    path, where = _storyboard(tmp_path)
    extra = ["--build-dir", str(tmp_path / "build")] if command == "compile" else []
    result = run_bounded(command, str(path), *extra, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    missing = [name for name, line in where.items() if f"{path}:{line}:" not in output]
    assert not missing, output[-2000:]
    assert output.count("SB403") >= len(BOMBS)


def test_many_prompts_each_within_bounds_cannot_add_up(tmp_path: Path) -> None:
    """300 prompts, each a loop of 99 x 99 small concatenations (well within one
    prompt's bounds), took 11 s of CPU together: all the prompts of one storyboard
    now share one budget of work, and the prompts past it are refused at their lines."""
    scenes = "".join(
        f'  - id: s{i}\n    prompt: "{{% for a in range(99) %}}{{% for b in range(99) %}}'
        f"{{{{ 'ab' ~ b }}}}{{% endfor %}}{{% endfor %}}x{i}\"\n    duration: 3\n"
        for i in range(300)
    )
    path = tmp_path / "storyboard.yaml"
    path.write_text(f"storyboard: 1\ntitle: Work\nscenes:\n{scenes}", encoding="utf-8")
    result = run_bounded("lint", str(path))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "the storyboard's prompts together do more than" in result.stdout
    assert f"{path}:5:13: SB" in result.stdout  # the first prompt is judged on its own


# --- failures, the context a prompt sees, the storyboard's shared budget (pure) ----------
@pytest.mark.parametrize(
    ("source", "kind", "line", "needle", "message"),
    [
        (
            "dawn\n{% if %}",
            "syntax",
            2,
            None,
            "template syntax error: Expected an expression, got 'end of statement block'",
        ),
        (
            "{{ x|nofilter }}",
            "syntax",
            1,
            None,
            "template syntax error: No filter named 'nofilter'.",
        ),
        ("dawn, {{ keeper_typo }}", "undefined", 1, "keeper_typo", "'keeper_typo' is undefined"),
        ("{{ light.dusk }}", "undefined", 1, None, "'dict object' has no attribute 'dusk'"),
        (
            "{{ ''.__class__ }}",
            "sandbox",
            1,
            None,
            "unsafe template: access to attribute '__class__' of 'str' object is unsafe.",
        ),
        (
            "{{ 1 + 'a' }}",
            "error",
            1,
            None,
            "template error: unsupported operand type(s) for +: 'int' and 'str'",
        ),
        ("{{ 1 / 0 }}", "error", 1, None, "template error: division by zero"),
    ],
    ids=["syntax-line", "filter", "undefined", "attribute", "unsafe", "type", "arithmetic"],
)
def test_a_failure_says_its_kind_and_where_to_point(
    source: str, kind: str, line: int, needle: str | None, message: str
) -> None:
    with pytest.raises(TemplateFailure) as caught:
        render_prompt(source, {"light": {}})
    assert (caught.value.kind, caught.value.line, caught.value.needle) == (kind, line, needle)
    assert caught.value.message == message == str(caught.value)


def test_the_context_is_vars_then_asset_markers_then_scene_and_shot() -> None:
    from storyboard.compile.templates import prompt_context

    variables = {"style": "noir", "keeper": "an old man", "scene": "shadowed"}
    context = prompt_context(variables, ["keeper", "harbour"], {"id": "s1"}, {"index": 2})
    assert context == {
        "style": "noir",
        "keeper": "<<<keeper>>>",  # an asset's name wins over a var of the same name
        "harbour": "<<<harbour>>>",
        "scene": {"id": "s1"},  # and the scene and shot over both
        "shot": {"index": 2},
    }
    assert variables == {"style": "noir", "keeper": "an old man", "scene": "shadowed"}
    source = "{{ keeper }} on {{ harbour }}, {{ style }}, shot {{ shot.index }} of {{ scene.id }}"
    assert render_prompt(source, context) == "<<<keeper>>> on <<<harbour>>>, noir, shot 2 of s1"


def test_the_prompts_of_one_storyboard_share_one_budget_of_work() -> None:
    from storyboard.bounds import MAX_STORYBOARD_WORK
    from storyboard.compile.budget import storyboard_budget

    busy = "{% for a in range(99) %}{% for b in range(99) %}{{ 'ab' ~ b }}{% endfor %}{% endfor %}"
    for _ in range(30):  # alone, each render has its own budget
        render_prompt(busy, {})
    rendered = 0
    with storyboard_budget(), pytest.raises(TemplateFailure) as caught:
        while rendered < 30:
            render_prompt(busy, {})
            rendered += 1
    assert rendered == 23  # some 170,000 steps each: the 24th passes the shared bound
    assert caught.value.kind == "sandbox"
    assert caught.value.message == (
        f"the storyboard's prompts together do more than {MAX_STORYBOARD_WORK} steps of work"
    )
    assert render_prompt(busy, {}).endswith("ab98")  # the shared budget ends with its block
