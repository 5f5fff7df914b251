"""Prompt tokens that do not resolve: the hint fits the kind of token written."""

from __future__ import annotations

from pathlib import Path

from storyboard.lint.engine import lint_file

ASSETS = "assets:\n  logos: {image: https://example.com/l.png}\n  hero: {element: 7}\n"


def hints(tmp_path: Path, prompt: str) -> list[tuple[str, str]]:
    path = tmp_path / "storyboard.yaml"
    path.write_text(
        "storyboard: 1\n" + ASSETS + "scenes:\n"
        f"  - {{id: a, images: [logos], prompt: '{prompt}', duration: 5}}\n",
        encoding="utf-8",
    )
    return [(p.message, p.hint) for p in lint_file(path).problems if p.code == "SB304"]


def test_a_named_token_gets_a_hint_about_named_assets(tmp_path: Path) -> None:
    ((message, hint),) = hints(tmp_path, "<<<logo>>> glows")
    assert message == "undefined asset 'logo' in <<<logo>>>"
    assert hint == (
        "no asset named 'logo'; assets: logos, hero; did you mean 'logos'? "
        "Or define it: `assets: {logo: {image: assets/logo.png}}`"
    )
    assert "indexed" not in hint


def test_a_named_token_far_from_any_asset_is_told_how_to_define_one(tmp_path: Path) -> None:
    ((_, hint),) = hints(tmp_path, "<<<zeppelin>>> glows")
    assert hint.startswith("no asset named 'zeppelin'; assets: logos, hero; define it: ")


def test_only_indexed_tokens_get_the_indexed_hint(tmp_path: Path) -> None:
    for token in ("<<<image_2>>>", "<<<element_1>>>", "<<<video_1>>>"):
        ((_, hint),) = hints(tmp_path, f"{token} glows")
        assert hint == "indexed tokens count from 1 into the scene's images:/elements: lists"
