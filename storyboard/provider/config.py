"""Reading the files that override a table of defaults (prices, the provider profile).

Both are named by a path or else by an environment variable, hold TOML (by
the `.toml` suffix) or JSON, and keep their keys at the top level or under
one named table. A file that cannot be read or parsed is an environment
problem naming the file and the reason, and it is read within a bound like
every other input (`storyboard.bounds`), so that a variable pointing at a
device or a huge file fails at once instead of hanging or filling memory.
What the keys may hold is each table's own business.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from storyboard.bounds import MAX_CONFIG_BYTES
from storyboard.errors import EnvironmentProblem, FileRefused
from storyboard.localfile import read_bounded


def override_file(
    path: str | os.PathLike[str] | None, variable: str, env: Mapping[str, str] | None = None
) -> Path | None:
    """The override file: `path` if given, else the one `$variable` names, else None."""
    source = path if path is not None else (os.environ if env is None else env).get(variable)
    return Path(source) if source else None


def read_overrides(file: Path, what: str, table: str, holds: str) -> Mapping[str, Any]:
    """The keys of `file` (a `what`, e.g. "price table"), from its top level or its
    `[table]`; `holds` names what the keys are, for the message when there are none."""
    try:
        text = read_bounded(file, MAX_CONFIG_BYTES).decode("utf-8")
    except FileRefused as exc:
        raise EnvironmentProblem(f"{what} {file}: {exc.reason}") from exc
    except UnicodeDecodeError as exc:
        raise EnvironmentProblem(f"{what} {file}: not valid UTF-8 ({exc.reason})") from exc
    try:
        data: Any = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EnvironmentProblem(f"{what} {file}: not valid JSON/TOML ({exc})") from exc
    if isinstance(data, Mapping) and isinstance(data.get(table), Mapping):
        data = data[table]
    if not isinstance(data, Mapping):
        raise EnvironmentProblem(f"{what} {file}: expected a table of {holds}")
    return data
