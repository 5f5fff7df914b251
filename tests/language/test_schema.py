"""The storyboard schema: valid JSON Schema 2020-12, accepted by a third-party
validator, and in agreement with our own reading of the examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from storyboard.language.schema import STORYBOARD_SCHEMA
from storyboard.lint.engine import lint_file
from tests.conftest import EXAMPLES

SCHEMAS = sorted(STORYBOARD_SCHEMA.parent.glob("*.schema.json"))
EXAMPLE_FILES = sorted(EXAMPLES.glob("*/storyboard.yaml"))


def check_jsonschema(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("schema", SCHEMAS, ids=[s.name for s in SCHEMAS])
def test_schemas_pass_the_metaschema(schema: Path) -> None:
    result = check_jsonschema("--check-metaschema", str(schema))
    assert result.returncode == 0, result.stdout + result.stderr


def test_third_party_validator_accepts_the_examples() -> None:
    assert EXAMPLE_FILES, "no examples found"
    result = check_jsonschema("--schemafile", str(STORYBOARD_SCHEMA), *map(str, EXAMPLE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_third_party_validator_rejects_what_we_reject(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("storyboard: 1\nscenes:\n  - {id: Bad Id, prompt: x, duration: 0}\n")
    result = check_jsonschema("--schemafile", str(STORYBOARD_SCHEMA), str(bad))
    assert result.returncode == 1
    ours = {p.code for p in lint_file(bad).problems}
    assert ours == {"SB100"}


def test_schema_documents_every_property() -> None:
    import json

    schema = json.loads(STORYBOARD_SCHEMA.read_text())

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if isinstance(sub, dict) and "$ref" not in sub:
                    assert "description" in sub or sub is True, f"{where}.{name}"
            for key, sub in node.items():
                walk(sub, f"{where}.{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}[{i}]")

    walk(schema, "$")
