"""The typed plan: plan.json as written by every example is what
schemas/plan.schema.json describes, reads back into an equal `Plan`, and is
written again byte for byte; the task graph and its order."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from storyboard.compile.compiler import write_plan
from storyboard.compile.plan import Plan, dependency_graph, topological_order
from storyboard.pipeline import compile_storyboard
from tests.conftest import EXAMPLES

SCHEMA = Path(__file__).resolve().parents[2] / "storyboard" / "schemas" / "plan.schema.json"
GOLDEN = Path(__file__).parent / "golden"
EXAMPLE_DIRS = sorted(p.parent for p in EXAMPLES.glob("*/storyboard.yaml"))
NORMALISED = re.compile(r"^<base64 64 sha256:[0-9a-f]{16}>$")


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(validator: Draft202012Validator, data: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=[p.name for p in EXAMPLE_DIRS])
def test_every_example_plan_is_what_the_schema_describes_and_reads_back(
    example: Path, tmp_path: Path, validator: Draft202012Validator
) -> None:
    path = write_plan(compile_storyboard(example / "storyboard.yaml"), tmp_path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert problems(validator, data) == []
    plan = Plan.from_json(data)
    assert Plan.from_json(plan.to_json()) == plan
    assert json.dumps(plan.to_json(), indent=2, ensure_ascii=False) + "\n" == text
    assert [t.id for t in plan.tasks] == plan.order  # written dependencies first


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.plan.json")), ids=lambda p: p.stem)
def test_the_golden_plans_are_what_the_schema_describes(
    golden: Path, validator: Draft202012Validator
) -> None:
    data = json.loads(golden.read_text(encoding="utf-8"))
    for task in data["tasks"]:  # the goldens keep a digest of each cache key, not the key
        for name in ("cache_key", "request_key"):
            assert NORMALISED.match(task[name])
            task[name] = hashlib.sha256(task[name].encode()).hexdigest()
    assert problems(validator, data) == []
    assert Plan.from_json(data).to_json() == data


def test_the_schema_refuses_what_plan_json_never_holds(validator: Draft202012Validator) -> None:
    path = EXAMPLES / "lighthouse" / "storyboard.yaml"
    good = compile_storyboard(path).plan(path.parent / "build").to_json()
    cases: list[tuple[str, Any]] = [
        ("tasks", [{**good["tasks"][0], "extra": 1}]),
        ("version", 2),
        ("audio", {"music": "m.mp3"}),
        ("estimate", {**good["estimate"], "currency": "EUR"}),
    ]
    for key, value in cases:
        bad = copy.deepcopy(good)
        bad[key] = value
        assert problems(validator, bad), key
    missing = copy.deepcopy(good)
    del missing["cut"][0]["segments"]
    assert problems(validator, missing)


def test_the_topological_order_puts_dependencies_first_and_keeps_ties_in_order() -> None:
    graph = dependency_graph(
        [("c", ["b"]), ("a", []), ("b", ["a"]), ("d", []), ("e", ["c", "unknown"])]
    )
    assert list(graph.nodes) == ["c", "a", "b", "d", "e"]  # an unknown dependency is left out
    assert topological_order(graph) == ["a", "b", "c", "d", "e"]


def test_a_looping_graph_has_no_order_and_descendants_follow_every_path() -> None:
    loop = dependency_graph([("a", ["c"]), ("b", ["a"]), ("c", ["b"]), ("d", [])])
    assert loop.order() is None
    with pytest.raises(ValueError, match="cycle"):
        topological_order(loop)
    diamond = dependency_graph([("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])])
    assert diamond.descendants("a") == {"b", "c", "d"} and diamond.descendants("d") == set()
    assert diamond.successors("a") == ["b", "c"] and diamond.predecessors("d") == ["b", "c"]
    assert diamond.order() == ["a", "b", "c", "d"]


def test_the_plan_graph_gives_children_and_descendants() -> None:
    path = EXAMPLES / "recipe-square" / "storyboard.yaml"
    plan = compile_storyboard(path).plan(path.parent / "build")
    by_id = plan.by_id
    for task in plan.tasks:
        assert set(plan.graph.predecessors(task.id)) == set(task.depends_on)
        for child in plan.children(task.id):
            assert task.id in by_id[child].depends_on
    assert plan.descendants("method.1") == {"method.2", "plating"}
