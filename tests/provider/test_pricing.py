"""Cost estimates: list prices per output second, base edits billed on their source (R15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyboard.errors import EnvironmentProblem
from storyboard.provider.pricing import (
    DEFAULT_PRICES,
    PRICES_ENV,
    PriceTable,
    estimate_cost,
    load_prices,
)

STD = {"model": "kirin_v3_omni_video", "prompt": "p", "duration": "3", "mode": "std"}


@pytest.fixture(autouse=True)
def _no_price_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRICES_ENV, raising=False)


@pytest.mark.parametrize(
    ("changes", "usd"),
    [
        ({}, 3 * 0.084),
        ({"sound": "on"}, 3 * 0.112),
        ({"mode": "pro", "duration": "10"}, 10 * 0.112),
        ({"mode": "pro", "sound": "on", "duration": "15"}, 15 * 0.140),
        ({"mode": None}, 3 * 0.112),  # R17: pro by default
        ({"duration": None}, 5 * 0.084),  # R19: "5" by default
    ],
)
def test_list_prices(changes: dict[str, object], usd: float) -> None:
    payload = {k: v for k, v in {**STD, **changes}.items() if v is not None}
    assert estimate_cost(payload) == pytest.approx(usd)


@pytest.mark.parametrize(("source", "billed"), [(4.4, 4), (4.5, 5), (6.0, 6), (9.51, 10)])
def test_base_edit_bills_the_rounded_source_length(source: float, billed: int) -> None:
    payload = {**STD, "video_list": [{"video_url": "u", "refer_type": "base"}]}
    del payload["duration"]
    assert estimate_cost(payload, source_seconds=source) == pytest.approx(billed * 0.084)


def test_base_edit_needs_its_source_length() -> None:
    with pytest.raises(ValueError, match="R15"):
        estimate_cost({**STD, "video_list": [{"video_url": "u"}]})


def test_feature_reference_bills_duration() -> None:
    payload = {**STD, "video_list": [{"video_url": "u", "refer_type": "feature"}]}
    assert estimate_cost(payload, source_seconds=9) == pytest.approx(3 * 0.084)


def test_override_from_env_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "prices.toml"
    file.write_text("[prices]\nstd = 0.1\n")
    monkeypatch.setenv(PRICES_ENV, str(file))
    assert load_prices() == PriceTable(std=0.1)
    assert estimate_cost(STD) == pytest.approx(0.3)


def test_override_from_json_path(tmp_path: Path) -> None:
    file = tmp_path / "prices.json"
    file.write_text('{"pro_sound": 0.2}')
    table = load_prices(file)
    assert table.pro_sound == 0.2 and table.std == DEFAULT_PRICES.std
    payload = {**STD, "mode": "pro", "sound": "on"}
    assert estimate_cost(payload, prices=table) == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("text", "problem"),
    [('{"stdd": 0.1}', "unknown keys"), ('{"std": "cheap"}', "non-negative"), ("{", "JSON")],
)
def test_bad_price_files_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    file = tmp_path / "prices.json"
    file.write_text(text)
    with pytest.raises(EnvironmentProblem, match=problem):
        load_prices(file)
