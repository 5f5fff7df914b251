"""`storyboard export` end to end: every example rendered, exported in every format
through the real command line, and read back by OpenTimelineIO's adapters (and
the MLT export rendered by melt, the engine of Kdenlive and Shotcut).

What is compared is the plan: the film's length to the frame, each clip's trim,
the transitions and their frames, and one marker per shot with the prompt as
sent. lighthouse has a base edit, a trim, a fade, a crossfade and a wipe;
recipe-square a split scene and a circleopen; sneaker-ad is vertical.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from storyboard.media import probe
from tests.e2e.test_render import EXAMPLE_NAMES
from tests.export.conftest import FPS, Rendered


def picture(timeline: otio.schema.Timeline) -> otio.schema.Track:
    return next(t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video)


def clips_of(track: otio.schema.Track) -> list[otio.schema.Clip]:
    return [i for i in track if isinstance(i, otio.schema.Clip)]


def joins_of(track: otio.schema.Track) -> list[tuple[str, int]]:
    return [
        (t.name, (t.in_offset + t.out_offset).to_frames())
        for t in track
        if isinstance(t, otio.schema.Transition)
    ]


def expected_joins(film: Rendered) -> list[tuple[str, int]]:
    """The film's transitions as the timeline has them: a fade through black is two
    dissolves (half out of the clip before, half into this one); an opening fade one."""
    joins = []
    for n, (_, _, kind, frames) in enumerate(film.cut()):
        if kind == "cut" or not frames:
            continue
        if kind == "fade" and n:
            joins += [(kind, j) for j in (frames // 2, frames - frames // 2) if j]
        else:
            joins.append(("fade" if n == 0 else kind, frames))
    return joins


def prompts(task: dict[str, Any]) -> list[str]:
    payload = task["payload"]
    if isinstance(payload.get("prompt"), str):
        return [payload["prompt"]]
    return [s["prompt"] for s in payload["multi_prompt"]]


def expected_markers(film: Rendered) -> list[tuple[str, str]]:
    """(marker name, prompt as sent) of every shot the cut keeps, in film order."""
    marks = []
    for label, trim, _, _ in film.cut():
        task = film.task(label.split("@")[0])
        for shot, prompt in zip(task["shots"], prompts(task), strict=False):
            start = round(shot["start"] * FPS)
            end = start + round(shot["duration"] * FPS) if shot["duration"] else trim[1]
            if min(end, trim[1]) > max(start, trim[0]):
                marks.append((f"{task['id']} shot {shot['index']}", prompt))
    return marks


# --- OTIO: everything, read back exactly --------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_otio_export_is_the_film_frame_for_frame(
    name: str, rendered: dict[str, Rendered]
) -> None:
    film = rendered[name]
    path = film.export("otio")
    assert path == film.build / "storyboard.otio"
    timeline = otio.adapters.read_from_file(str(path))
    assert timeline.duration().to_frames() == film.frames
    assert [t.duration().to_frames() for t in timeline.tracks] == [film.frames] * len(
        timeline.tracks
    )
    assert [t.name for t in timeline.tracks] == ["picture", "sound"] + (
        ["music"] if film.plan["audio"] else []
    )
    track = picture(timeline)
    clips = clips_of(track)
    cut = film.cut()
    assert [c.name for c in clips] == [label for label, *_ in cut]
    for clip, (label, trim, _, _) in zip(clips, cut, strict=True):
        shown = clip.visible_range()  # the item and the handles its transitions use
        assert (shown.start_time.to_frames(), shown.end_time_exclusive().to_frames()) == trim
        meta = clip.metadata["storyboard"]
        task = film.task(label.split("@")[0])
        assert meta["cache_key"] == task["cache_key"] and list(meta["trim_frames"]) == list(trim)
        assert meta["external_task_id"] == task["payload"]["external_task_id"]
        # Media by relative path from the export, to the clip the film was cut from.
        url = clip.media_reference.target_url
        assert not os.path.isabs(url)
        assert (path.parent / url).resolve() == (film.build / "clips" / f"{label}.mp4").resolve()
    assert joins_of(track) == expected_joins(film)
    kinds = {t.name: t.transition_type for t in track if isinstance(t, otio.schema.Transition)}
    for kind, typ in kinds.items():
        dissolve = kind in ("crossfade", "fade")
        assert typ == ("SMPTE_Dissolve" if dissolve else "Custom_Transition"), kind
    markers = [m for c in clips for m in c.markers]
    assert [m.name for m in markers] == [n for n, _ in expected_markers(film)]
    for marker, (_, prompt) in zip(markers, expected_markers(film), strict=True):
        assert marker.comment.startswith(prompt) and "take 1" in marker.comment
        assert marker.metadata["storyboard"]["prompt"] == prompt
    assert timeline.metadata["storyboard"]["frames"] == film.frames


def test_the_music_bed_and_the_clips_sound_are_tracks_of_their_own(
    rendered: dict[str, Rendered],
) -> None:
    film = rendered["lighthouse"]
    timeline = otio.adapters.read_from_file(str(film.export("otio")))
    sound, music = timeline.tracks[1], timeline.tracks[2]
    assert [c.name for c in clips_of(sound)] == [c.name for c in clips_of(picture(timeline))]
    audio = film.plan["audio"]
    assert music.metadata["storyboard"]["volume"] == audio["volume"]
    assert music.metadata["storyboard"]["fade_out"] == audio["fade_out"]
    score = probe(film.story.parent / "assets" / "score.mp3")
    plays = clips_of(music)
    # Looped as clips: whole plays of the music, then what the film's end leaves.
    seconds = [c.source_range.duration.to_seconds() for c in plays]
    assert len(plays) == 2 and abs(seconds[0] - score.duration) < 1 / FPS
    assert {c.media_reference.target_url for c in plays} == {"../../assets/score.mp3"}


# --- the editors' formats ----------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_fcp7_xml_keeps_clips_trims_transitions_and_markers(
    name: str, rendered: dict[str, Rendered]
) -> None:
    film = rendered[name]
    path = film.export("fcp7")
    root = ET.parse(path).getroot()  # parses: an xmeml document
    assert root.tag == "xmeml"
    sequence = root.find(".//sequence")
    assert sequence is not None
    assert int(sequence.findtext("duration") or 0) == film.frames
    timeline = otio.adapters.read_from_file(str(path), adapter_name="fcp_xml")
    track = picture(timeline)
    clips = clips_of(track)
    assert [c.name for c in clips] == [label for label, *_ in film.cut()]
    # Each clipitem shows its trim (FCP's in and out include the transitions' handles).
    items = sequence.findall("./media/video/track/clipitem")
    assert [(int(i.findtext("in") or -1), int(i.findtext("out") or -1)) for i in items] == [
        trim for _, trim, *_ in film.cut()
    ]
    for item in items:
        assert (item.findtext("file/pathurl") or "").startswith("file:///")
    assert joins_of(track) == expected_joins(film)
    assert [m.name for c in clips for m in c.markers] == [n for n, _ in expected_markers(film)]
    # The last clip ends where the film does.
    assert int(items[-1].findtext("end") or 0) == film.frames
    # The sequence has the film's frame size (sneaker-ad is vertical), and the sound's
    # transitions are audio cross fades.
    first = probe(film.build / "clips" / f"{film.cut()[0][0]}.mp4")
    size = sequence.find("./media/video/format/samplecharacteristics")
    assert size is not None
    assert (int(size.findtext("width") or 0), int(size.findtext("height") or 0)) == (
        first.width,
        first.height,
    )
    sounds = sequence.findall("./media/audio/track/transitionitem")
    assert len(sounds) >= len(expected_joins(film))  # and the music's fades
    assert {t.findtext("effect/mediatype") for t in sounds} == {"audio"}


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_fcpxml_keeps_the_length_clips_and_markers(
    name: str, rendered: dict[str, Rendered]
) -> None:
    film = rendered[name]
    path = film.export("fcpxml")
    assert ET.parse(path).getroot().tag == "fcpxml"
    timeline = otio.adapters.read_from_file(str(path), adapter_name="fcpx_xml")
    assert timeline.duration().to_frames() == film.frames
    written = otio.adapters.read_from_file(str(film.export("otio")))
    # The adapter writes no transitions: each edit falls at its transition's centre.
    want = [(c.name, c.source_range) for c in clips_of(picture(written))]
    assert [(c.name, c.source_range) for c in clips_of(picture(timeline))] == want
    assert picture(timeline).duration().to_frames() == film.frames
    names = [m.name for c in clips_of(picture(timeline)) for m in c.markers]
    assert names == [n for n, _ in expected_markers(film)]


def edl_events(text: str) -> dict[str, list[list[str]]]:
    events: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        if re.match(r"^\d{3}\s", line):
            fields = line.split()
            events.setdefault(fields[0], []).append(fields)
    return events


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_edl_is_cmx_3600_with_an_event_per_clip(
    name: str, rendered: dict[str, Rendered]
) -> None:
    film = rendered[name]
    path = film.export("edl")
    text = path.read_text(encoding="utf-8")
    timeline = otio.adapters.read_from_file(str(path), adapter_name="cmx_3600", rate=FPS)
    assert timeline.duration().to_frames() == film.frames
    events = edl_events(text)
    # An event per clip, and one more for each fade to black (a dissolve to BL).
    to_black = [e for e in events.values() if e[-1][1] == "BL"]
    assert len(events) - len(to_black) == len(film.cut())
    assert len(to_black) == sum(1 for _, _, kind, _ in film.cut()[1:] if kind == "fade")
    dissolves = [line for lines in events.values() for line in lines if line[3] == "D"]
    assert len(dissolves) == len(expected_joins(film))
    assert [int(line[4]) for line in dissolves] == [f for _, f in expected_joins(film)]
    reels = {line[1] for lines in events.values() for line in lines} - {"BL"}
    assert all(re.fullmatch(r"SB\d{3}", r) for r in reels)
    locators = re.findall(r"^\* LOC: \S+ \S+\s+(.+)$", text, flags=re.MULTILINE)
    assert sorted(set(locators)) == sorted({n.upper() for n, _ in expected_markers(film)})


# --- a third-party reader renders it -----------------------------------------------------


def melt(mlt: Path, out: Path) -> int:
    """melt renders the MLT export (small and fast: only its length is asked); the
    frames of the video it wrote."""
    exe = shutil.which("melt")
    assert exe, "melt is needed (Debian package melt: apt-get install melt)"
    done = subprocess.run(
        [exe, "-quiet", str(mlt), "-consumer", f"avformat:{out}", "vcodec=libx264",
         "preset=ultrafast", "width=128", "height=72", "acodec=aac"],
        capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    info = probe(out)
    assert info.has_audio
    return info.frames or 0


# lighthouse (every kind of transition, a fade, the music bed) is rendered by melt
# from a collected folder moved elsewhere, in test_collect.
@pytest.mark.parametrize("name", sorted(set(EXAMPLE_NAMES) - {"lighthouse"}))
def test_melt_renders_the_mlt_export_to_the_films_length(
    name: str, rendered: dict[str, Rendered], tmp_path: Path
) -> None:
    film = rendered[name]
    path = film.export("mlt")
    root = ET.parse(path).getroot()
    # MLT plays each clip's sound with its picture: no separate sound track.
    music = ["music"] if film.plan["audio"] else []
    assert [p.get("id") for p in root.iter("playlist")] == ["background", "picture", *music]
    profile = root.find("profile")
    assert profile is not None
    first = probe(film.build / "clips" / f"{film.cut()[0][0]}.mp4")
    assert (int(profile.get("width", 0)), int(profile.get("height", 0))) == (
        first.width,
        first.height,
    )
    assert abs(melt(path, tmp_path / "melt.mp4") - film.frames) <= 1
