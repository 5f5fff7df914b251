"""Override files: one reader for the price table and the provider profile, bounded."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from storyboard.bounds import MAX_CONFIG_BYTES
from storyboard.errors import EnvironmentProblem
from storyboard.provider.config import override_file, read_overrides
from storyboard.provider.pricing import PRICES_ENV, PriceTable, load_prices
from storyboard.provider.profile import PROVIDER_ENV, load_profile

LOADERS: dict[str, tuple[Callable[[Path], object], str]] = {
    "prices": (load_prices, "price table"),
    "profile": (lambda file: load_profile(file, env={}), "provider profile"),
}


def test_a_path_wins_over_the_variable_and_nothing_means_none(tmp_path: Path) -> None:
    env = {PRICES_ENV: str(tmp_path / "env.json")}
    assert override_file(tmp_path / "given.json", PRICES_ENV, env) == tmp_path / "given.json"
    assert override_file(None, PRICES_ENV, env) == tmp_path / "env.json"
    assert override_file(None, PRICES_ENV, {PRICES_ENV: ""}) is None
    assert override_file(None, PRICES_ENV, {}) is None


def test_keys_come_from_the_top_level_or_the_named_table(tmp_path: Path) -> None:
    top, nested = tmp_path / "top.json", tmp_path / "nested.toml"
    top.write_text('{"std": 0.2}')
    nested.write_text("[prices]\nstd = 0.3\n")
    assert read_overrides(top, "price table", "prices", "prices") == {"std": 0.2}
    assert read_overrides(nested, "price table", "prices", "prices") == {"std": 0.3}
    assert load_prices(nested) == PriceTable(std=0.3)


def _directory(tmp_path: Path) -> Path:
    return tmp_path


def _fifo(tmp_path: Path) -> Path:
    fifo = tmp_path / "settings.json"
    os.mkfifo(fifo)  # an open for reading would block for ever
    return fifo


def _too_large(tmp_path: Path) -> Path:
    big = tmp_path / "settings.json"
    big.write_text('{"std": 0.1' + " " * MAX_CONFIG_BYTES + "}")
    return big


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "absent.json"


def _not_utf8(tmp_path: Path) -> Path:
    file = tmp_path / "settings.json"
    file.write_bytes(b'{"std": "\xff"}')
    return file


def _a_list(tmp_path: Path) -> Path:
    file = tmp_path / "settings.json"
    file.write_text("[1, 2]")
    return file


@pytest.mark.parametrize("loader", LOADERS, ids=LOADERS)
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_directory, "is a directory"),
        (_fifo, "FIFO"),
        (_too_large, f"at most {MAX_CONFIG_BYTES} are read"),
        (_missing, "file not found"),
        (_not_utf8, "not valid UTF-8"),
        (_a_list, "expected a table of"),
    ],
    ids=["directory", "fifo", "too-large", "missing", "not-utf8", "not-a-table"],
)
def test_both_loaders_refuse_a_bad_file_alike(
    tmp_path: Path, loader: str, make: Callable[[Path], Path], reason: str
) -> None:
    load, what = LOADERS[loader]
    file = make(tmp_path)
    with pytest.raises(EnvironmentProblem) as caught:
        load(file)
    assert str(caught.value).startswith(f"{what} {file}: ")
    assert reason in str(caught.value)


def test_the_variable_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "provider.json"
    file.write_text('{"base_url": "http://127.0.0.1:9"}')
    monkeypatch.setenv(PROVIDER_ENV, str(file))
    monkeypatch.delenv("KIRIN_BASE_URL", raising=False)
    assert load_profile().base_url == "http://127.0.0.1:9"
