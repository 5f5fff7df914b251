"""The film as an artifact keyed by its inputs: reused when nothing it is cut from
changed, cut again when anything did, each kind of input on its own.

Real clips and real stitches (small, quick): a film is cut, then the same or an
edited job asks whether the film in the build folder is current.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from storyboard.film import artifact
from storyboard.film.stitch import Audio, CutClip, ShotMark, StitchOptions, Transition
from storyboard.recut import FilmJob, current_film, cut_film, job_of
from tests.film.test_stitch import make_clip, make_tone

QUICK = StitchOptions(preset="ultrafast", loudness=None)
CUT = Transition("cut", 0.0)


@pytest.fixture(scope="module")
def cut_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three clips, a music bed, and the film cut from them (made once)."""
    made = tmp_path_factory.mktemp("artifact")
    (made / "clips").mkdir()
    for name, colour, tone in (("a", "red", 440.0), ("b", "blue", 660.0), ("c", "green", 880.0)):
        make_clip(made / "clips" / f"{name}.mp4", seconds=1.0, colour=colour, tone=tone)
    make_tone(made / "music.m4a", seconds=1.0, tone=300.0)
    assert not cut_film(job(made), made).reused
    return made


@pytest.fixture
def build(cut_once: Path, tmp_path: Path) -> Path:
    """A build folder of its own with that film, recorded as cut from its inputs."""
    build = tmp_path / "build"
    shutil.copytree(cut_once, build)
    record = json.loads((build / artifact.RECORD).read_text(encoding="utf-8"))
    film = current_film(job(cut_once), cut_once)
    assert film is not None
    moved = replace(
        film,
        path=build / "film.mp4",
        poster=build / "film.poster.png",
        contact_sheet=build / "film.contact.png",
        reused=False,
    )
    artifact.save(build, job(build).key, moved)
    assert json.loads((build / artifact.RECORD).read_text(encoding="utf-8"))["key"] != record["key"]
    return build


def clips(build: Path, **changes: CutClip) -> list[CutClip]:
    base = {
        name: CutClip(build / "clips" / f"{name}.mp4", name, None, CUT, (ShotMark(name, 0, 1),))
        for name in "abc"
    }
    base.update(changes)
    return list(base.values())


def job(
    build: Path,
    cut: list[CutClip] | None = None,
    music: Audio | None = None,
    options: StitchOptions = QUICK,
    out: str = "film.mp4",
) -> FilmJob:
    bed = music or Audio(music=str(build / "music.m4a"), volume=0.3)
    return job_of(cut or clips(build), bed, options, build / out)


def test_an_unchanged_job_finds_the_film_current_and_touches_nothing(build: Path) -> None:
    film = build / "film.mp4"
    before = {p.name: artifact.stamp(p) for p in build.iterdir()}
    again = current_film(job(build), build)
    assert again is not None and again.reused
    assert again.path == film and again.frames == 72 and again.method in ("copy", "smart")
    assert {p.name: artifact.stamp(p) for p in build.iterdir()} == before


def _recolour_b(build: Path) -> FilmJob:
    make_clip(build / "clips" / "b.mp4", seconds=1.0, colour="yellow", tone=660.0)
    return job(build)


def _rewrite_music(build: Path) -> FilmJob:
    make_tone(build / "music.m4a", seconds=1.0, tone=350.0)
    return job(build)


CHANGES: dict[str, Callable[[Path], FilmJob]] = {
    "a clip's bytes": _recolour_b,
    "the order of the cut": lambda b: job(b, list(reversed(clips(b)))),
    "a transition": lambda b: job(
        b, clips(b, b=replace(clips(b)[1], transition=Transition("crossfade", 0.25)))
    ),
    "a trim": lambda b: job(b, clips(b, c=replace(clips(b)[2], trim=(0.0, 0.5)))),
    "a shot's label on the contact sheet": lambda b: job(
        b, clips(b, a=replace(clips(b)[0], shots=(ShotMark("opening", 0, 1),)))
    ),
    "the music's volume": lambda b: job(b, music=Audio(music=str(b / "music.m4a"), volume=0.5)),
    "the music's bytes": _rewrite_music,
    "a film setting": lambda b: job(b, options=replace(QUICK, crf=30)),
    "the film's size": lambda b: job(b, options=replace(QUICK, size=(320, 240))),
    "the loudness target": lambda b: job(b, options=replace(QUICK, loudness=-20.0)),
    "where the film goes": lambda b: job(b, out="other.mp4"),
}


@pytest.mark.parametrize("what", sorted(CHANGES))
def test_any_changed_input_means_the_film_is_cut_again(build: Path, what: str) -> None:
    changed = CHANGES[what](build)
    assert current_film(changed, build) is None
    film = cut_film(changed, build)
    assert not film.reused
    assert current_film(changed, build) is not None  # and that film is current in turn


def test_a_new_stitcher_version_cuts_again(build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifact, "STITCHER_VERSION", artifact.STITCHER_VERSION + 1)
    assert current_film(job(build), build) is None


@pytest.mark.parametrize("damage", ["film touched", "film gone", "poster gone", "record garbled"])
def test_outputs_changed_since_mean_the_film_is_cut_again(build: Path, damage: str) -> None:
    film = build / "film.mp4"
    if damage == "film touched":
        os.utime(film, ns=(1, 1))
    elif damage == "film gone":
        film.unlink()
    elif damage == "poster gone":
        (build / "film.poster.png").unlink()
    else:
        record = build / artifact.RECORD
        data = json.loads(record.read_text(encoding="utf-8"))
        data["result"] = {"path": 3}
        record.write_text(json.dumps(data), encoding="utf-8")
    assert current_film(job(build), build) is None
    assert not cut_film(job(build), build).reused
    assert current_film(job(build), build) is not None


def test_a_missing_music_file_is_never_current(build: Path) -> None:
    (build / "music.m4a").unlink()
    assert current_film(job(build), build) is None
