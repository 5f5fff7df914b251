"""Preview cards in the author's words (issue 13, point 6).

Each point is checked twice: by the card plan the renderer draws from
(`animatic.layout`, `timecode_rows`, the backend's notes) and by decoding real
preview clips, frame by frame, and comparing regions of the picture.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from storyboard.animatic.cards import (
    CardLayout,
    draw_card,
    shot_colour,
    timecode_rows,
    timecode_strip,
)
from storyboard.animatic.layout import references, refs_line, shot_cards
from storyboard.animatic.notes import CardNotes, FilmSpan, UpstreamFrame
from storyboard.animatic.renderer import FPS, render_preview
from storyboard.compile.compiler import Compilation
from storyboard.media import extract_frame, run_ffmpeg
from storyboard.pipeline import compile_storyboard
from storyboard.provider import api
from storyboard.run.backends.preview import REQUEST_FILE, PreviewBackend
from storyboard.run.backends.preview_cards import card_notes, film_spans
from tests.animatic.test_renderer import frames_at
from tests.conftest import make_png

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SIZE = (1280, 720)
NAMES = {"image_1": "lighthouse", "image_2": "keeper", "element_1": "mira", "video_1": "storm"}


def solid_video(path: Path, colour: str, seconds: int = 1) -> Path:
    source = f"color=c={colour}:size=320x240:rate=24:duration={seconds}"
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    run_ffmpeg(["-f", "lavfi", "-i", source, *encode, str(path)])
    return path


def one_shot(prompt: str, seconds: int = 2, **fields: Any) -> dict[str, Any]:
    return {
        "model": api.MODEL,
        "multi_shot": False,
        "prompt": prompt,
        "duration": str(seconds),
        "sound": "off",
        "mode": "std",
        "aspect_ratio": "16:9",
        "watermark_info": {"enabled": False},
        **fields,
    }


def region(png: Path, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    with Image.open(png) as img:
        return np.asarray(img.convert("RGB").crop((x, y, x + w, y + h)), dtype=np.float64)


@pytest.fixture(scope="module")
def lighthouse() -> Compilation:
    return compile_storyboard(EXAMPLES / "lighthouse" / "storyboard.yaml")


# --- 1. the author's names ---------------------------------------------------------------


def test_the_plan_names_every_token_as_the_author_did(lighthouse: Compilation) -> None:
    names = {t.id: t.names for t in lighthouse.tasks}
    assert names["arrival"] == {"image_1": "lighthouse", "image_2": "keeper"}
    assert names["squall"] == {"image_1": "lighthouse", "video_1": "storm"}
    assert names["squall_night"] == {"video_1": "squall"}
    assert names["return"] == {
        "image_1": "lighthouse",
        "image_2": "keeper",
        "image_3": "arrival",  # the first frame, taken from arrival's last
        "element_1": "mira",
    }
    # What the card reads; the payload keeps the API's tokens.
    notes = card_notes(lighthouse)
    assert notes["return"].names["image_3"] == "last frame of arrival"
    arrival = next(t for t in lighthouse.tasks if t.id == "arrival")
    assert "<<<image_2>>>" in arrival.payload["multi_prompt"][1]["prompt"]


def test_a_card_shows_the_prompt_in_the_authors_names(tmp_path: Path) -> None:
    picture = make_png(tmp_path / "keeper.png", (300, 400), (30, 60, 120))
    payload = one_shot(
        "Close-up: <<<image_1>>> climbs the stairs",
        image_list=[{"image_url": str(picture)}],
    )
    notes = CardNotes(names={"image_1": "keeper"})
    refs = references(payload, Path, notes)
    [card] = shot_cards(payload, refs, notes)
    assert card.prompt == "Close-up: <<<keeper>>> climbs the stairs"
    out = tmp_path / "named.mp4"
    render_preview(payload, out, label="arrival", resolve_media=Path, notes=notes)

    layout = CardLayout.for_size(SIZE, with_picture=True)
    x, y, w, h = layout.text
    drawn = {
        prompt: np.asarray(
            draw_card(
                layout,
                title="arrival · shot 1/1",
                detail="",
                prompt=prompt,
                footer=refs_line(refs),
                background=shot_colour("arrival/1"),
                picture_label=card.picture_label,
            ).crop((x, y, x + w, y + h)),
            dtype=np.float64,
        )
        for prompt in (card.prompt, payload["prompt"])
    }
    frame = region(frames_at(out, [24], tmp_path)[24], layout.text)
    named, indexed = drawn.values()
    differ = np.abs(named - indexed).max(axis=2) > 60  # where the two prompts differ
    to_named, to_indexed = (float(np.mean(np.abs(frame - d)[differ])) for d in (named, indexed))
    assert to_named * 3 < to_indexed, (to_named, to_indexed)  # the frame reads <<<keeper>>>


# --- 2. the refs line says which asset is which ------------------------------------------


def test_the_refs_line_says_which_asset_is_which(tmp_path: Path) -> None:
    still = make_png(tmp_path / "a.png", (64, 64))
    payload = one_shot(
        "x",
        image_list=[{"image_url": str(still), "type": "first_frame"}, {"image_url": str(still)}],
        element_list=[{"element_id": 7}],
        video_list=[{"video_url": "https://cdn.example.com/storm.mp4", "refer_type": "feature"}],
    )
    refs = references(payload, Path, CardNotes(names=NAMES))
    assert refs_line(refs) == (
        "refs: image_1 = lighthouse (first frame), image_2 = keeper, "
        "element_1 = mira, video_1 = storm (feature)"
    )
    # Without notes (the mock's clips) the tokens are still told apart by role.
    assert refs_line(references(payload, Path)) == (
        "refs: image_1 (first frame), image_2, element_1 = #7, video_1 (feature)"
    )


# --- 3. a reference video appears on the card --------------------------------------------


def test_a_reference_video_is_shown_and_labelled(tmp_path: Path) -> None:
    video = solid_video(tmp_path / "storm.mp4", "0xD02020")
    image = make_png(tmp_path / "lighthouse.png", (320, 240), (20, 40, 200))
    payload = {
        **one_shot("", 0),
        "multi_shot": True,
        "shot_type": "customize",
        "multi_prompt": [
            {"index": 1, "prompt": "the storm in <<<video_1>>> rolls in", "duration": "1"},
            {"index": 2, "prompt": "it reaches <<<image_1>>>", "duration": "1"},
        ],
        "image_list": [{"image_url": str(image)}],
        "video_list": [{"video_url": str(video), "refer_type": "feature"}],
    }
    del payload["prompt"]
    notes = CardNotes(names={"image_1": "lighthouse", "video_1": "storm"})
    cards = shot_cards(payload, references(payload, Path, notes), notes)
    assert [c.picture_label for c in cards] == [
        "picture: video_1 = storm (feature)",
        "picture: image_1 = lighthouse",
    ]
    out = tmp_path / "squall.mp4"
    render_preview(payload, out, label="squall", resolve_media=Path, notes=notes)
    layout = CardLayout.for_size(SIZE, with_picture=True)
    assert layout.picture is not None
    px, py, pw, ph = layout.picture
    centre = (px + pw // 2 - 40, py + ph // 2 - 40, 80, 80)
    pngs = frames_at(out, [12, 36], tmp_path)
    storm, lighthouse = (region(pngs[n], centre).mean(axis=(0, 1)) for n in (12, 36))
    assert storm[0] > 150 and storm[2] < 80, storm  # the video's red
    assert lighthouse[2] > 150 and lighthouse[0] < 80, lighthouse


def test_a_video_given_by_url_is_named_not_fetched(tmp_path: Path) -> None:
    url = "https://cdn.example.com/storm.mp4"
    payload = one_shot("the storm in <<<video_1>>>", 1, video_list=[{"video_url": url}])
    payload["video_list"][0]["refer_type"] = "feature"

    def offline(ref: str) -> Path:
        raise AssertionError(f"the preview tried to fetch {ref}")

    notes = CardNotes(names={"video_1": "storm"})
    refs = references(payload, offline, notes, offline=True)
    assert refs_line(refs) == "refs: video_1 = storm (feature)"
    assert shot_cards(payload, refs, notes)[0].picture is None
    out = tmp_path / "u.mp4"
    info = render_preview(payload, out, label="u", resolve_media=offline, offline=True)
    assert info.frames == FPS

    async def through_the_backend() -> None:  # what `render` does with such a storyboard
        async with PreviewBackend(tmp_path / "preview") as backend:
            await backend.wait(await backend.submit(payload, "sb-url", label="squall"))

    asyncio.run(through_the_backend())  # renders: nothing fetched, nothing refused


# --- 4. the film's timecode -------------------------------------------------------------


def test_each_task_knows_where_it_sits_in_the_film(lighthouse: Compilation) -> None:
    spans = film_spans(lighthouse.tasks, lighthouse.cut)
    # arrival 7 s; squall_night 6 s crossfades in over 0.5 s (starts 12 frames early);
    # return is trimmed to [0.5, 9.5] and fades through black (no overlap); daybreak
    # wipes in over 0.5 s. squall only feeds the edit: not in the film.
    assert spans == {
        "arrival": FilmSpan(0, 0, 168),
        "squall_night": FilmSpan(156, 0, 144),
        "return": FilmSpan(300, 12, 216),
        "daybreak": FilmSpan(504, 0, 120),
    }
    rows = timecode_rows(240, FPS, [0, 120], spans["return"])
    assert rows[0] == "film --:--:--:--  clip 00.00  shot 1"  # trimmed away
    assert rows[30] == "film 00:00:13:06  clip 01.25  shot 1"  # a note "at 0:13" lands here
    assert rows[130] == "film 00:00:17:10  clip 05.42  shot 2"
    assert timecode_rows(2, FPS, [0])[1] == "00:00:00:01  shot 1 00.04"  # not in the cut


def test_the_card_shows_the_films_timecode(tmp_path: Path) -> None:
    film = FilmSpan(44 * FPS, 0, 2 * FPS)  # this clip opens the film's 44th second
    out = tmp_path / "late.mp4"
    render_preview(one_shot("a late scene"), out, label="late", resolve_media=Path,
                   notes=CardNotes(film=film))  # fmt: skip
    bar = CardLayout.for_size(SIZE, with_picture=False).bar
    n = 12
    png = frames_at(out, [n], tmp_path)[n]
    distances = []
    for span in (film, None):
        strip, (row_w, row_h) = timecode_strip(2 * FPS, FPS, bar, [0], span)
        row = np.asarray(strip.crop((0, n * row_h, row_w, (n + 1) * row_h)), dtype=np.float64)
        margin = CardLayout.for_size(SIZE, with_picture=False).margin
        top = SIZE[1] - bar + (bar - row_h) // 2
        distances.append(float(np.mean(np.abs(region(png, (margin, top, row_w, row_h)) - row))))
    assert distances[0] * 3 < distances[1], distances  # "film 00:00:44:12", not "00:00:00:12"


def moved(tmp_path: Path) -> Path:
    """The lighthouse with daybreak moved before return in the cut."""
    folder = tmp_path / "lighthouse"
    shutil.copytree(EXAMPLES / "lighthouse", folder, ignore=shutil.ignore_patterns("build"))
    story = folder / "storyboard.yaml"
    text = story.read_text(encoding="utf-8")
    ret = "  - {scene: return, trim: [0.5, 9.5], transition: {type: fade, duration: 1}}\n"
    day = "  - {scene: daybreak, transition: {type: wipeleft, duration: 0.5}}\n"
    assert ret + day in text
    story.write_text(text.replace(ret + day, day + ret), encoding="utf-8")
    return story


def test_moving_a_scene_renders_new_cards_and_changes_no_request(
    lighthouse: Compilation, tmp_path: Path
) -> None:
    after = compile_storyboard(moved(tmp_path))
    before_tasks = {t.id: t for t in lighthouse.tasks}
    for task in after.tasks:  # kirin's requests and keys: byte for byte the same
        old = before_tasks[task.id]
        assert json.dumps(task.payload) == json.dumps(old.payload)
        assert (task.cache_key, task.request_key) == (old.cache_key, old.request_key)
    # Only the cards whose notes changed get another variant on the preview shelf:
    # no card drawn with the old film time is served, and the others keep theirs.
    assert card_notes(after)["daybreak"].film != card_notes(lighthouse)["daybreak"].film
    assert card_notes(after)["arrival"] == card_notes(lighthouse)["arrival"]
    old_variants = PreviewBackend.variants_for(lighthouse.plan(tmp_path / "build"))
    new_variants = PreviewBackend.variants_for(after.plan(tmp_path / "build"))
    key = {t.id: t.cache_key for t in after.tasks}
    moved_ids = {t for t in key if old_variants[key[t]] != new_variants[key[t]]}
    assert moved_ids == {"daybreak", "return"}


STORY = """\
storyboard: 1
title: Two scenes
scenes:
  - id: dawn
    prompt: "Dawn over the harbour"
    duration: 3
  - id: dusk
    prompt: "Dusk over the harbour"
    duration: 3
cut:
  - dawn
  - {scene: dusk, transition: {type: crossfade, duration: 0.5}}
"""


def test_the_preview_backend_draws_the_plans_notes(tmp_path: Path) -> None:
    story = tmp_path / "storyboard.yaml"
    story.write_text(STORY, encoding="utf-8")
    plan = compile_storyboard(story)
    dusk = next(t for t in plan.tasks if t.id == "dusk")
    backend = PreviewBackend(tmp_path / "preview", plan=plan)

    async def render() -> Path:
        async with backend:
            remote = await backend.submit(dusk.payload, dusk.external_task_id, label="dusk")
            outcome = await backend.wait(remote)
            return Path(outcome.raw["clip"])

    clip = asyncio.run(render())
    assert clip.parent.parent.name == backend.source == PreviewBackend.source
    variant = PreviewBackend.variants_for(plan)[dusk.cache_key]
    assert clip.parent.name.endswith(f"~{variant}")
    assert backend.variants == PreviewBackend.variants_for(plan)
    request = json.loads((clip.parent / REQUEST_FILE).read_text(encoding="utf-8"))
    film = FilmSpan(60, 0, 72)  # dawn's 72 frames, less the crossfade's 12
    assert request["notes"]["film"] == {"start": 60, "clip_from": 0, "frames": 72}
    layout = CardLayout.for_size(SIZE, with_picture=False)
    strip, (row_w, row_h) = timecode_strip(72, FPS, layout.bar, [0], film)
    top = SIZE[1] - layout.bar + (layout.bar - row_h) // 2
    png = frames_at(clip, [6], tmp_path)[6]
    row = np.asarray(strip.crop((0, 6 * row_h, row_w, 7 * row_h)), dtype=np.float64)
    assert float(np.mean(np.abs(region(png, (layout.margin, top, row_w, row_h)) - row))) < 8


# --- 5. a first frame from another scene is that scene's picture ----------------------


def upstream_clip(tmp_path: Path, with_picture: bool) -> Path:
    fields: dict[str, Any] = {}
    if with_picture:
        green = make_png(tmp_path / "green.png", SIZE, (30, 190, 60))
        fields = {"image_list": [{"image_url": str(green), "type": "first_frame"}]}
    payload = one_shot("Arrival: a long prompt, drawn as text beside the picture", 1, **fields)
    out = tmp_path / f"arrival-{with_picture}.mp4"
    render_preview(payload, out, label="arrival", resolve_media=Path)
    return extract_frame(out, tmp_path / f"arrival-{with_picture}.png", which="last")


@pytest.mark.parametrize("with_picture", [True, False])
def test_a_first_frame_from_another_scene_shows_its_picture(
    tmp_path: Path, with_picture: bool
) -> None:
    last = upstream_clip(tmp_path, with_picture)
    payload = one_shot("return", 1, image_list=[{"image_url": str(last), "type": "first_frame"}])
    del payload["aspect_ratio"]
    kind = "card" if with_picture else "plain"
    upstream = UpstreamFrame("arrival", kind, shot_colour("arrival/1"))
    notes = CardNotes(names={"image_1": "last frame of arrival"}, upstream={"image_1": upstream})
    layout = CardLayout.for_size(SIZE, with_picture=True)
    assert layout.picture is not None
    boxes = {}
    for name, given in (("picture", notes), ("whole card", None)):
        out = tmp_path / f"return-{name}.mp4"
        render_preview(payload, out, label="return", resolve_media=Path, notes=given)
        boxes[name] = region(frames_at(out, [0], tmp_path)[0], layout.picture)
    picture = boxes["picture"]
    expected = (30, 190, 60) if with_picture else shot_colour("arrival/1")
    assert np.abs(picture.mean(axis=(0, 1)) - expected).max() < 12, picture.mean(axis=(0, 1))
    assert picture.std(axis=(0, 1)).max() < 8  # one colour: no bars, no text, no timecode
    assert boxes["whole card"].std(axis=(0, 1)).max() > 15  # what the cards showed before
