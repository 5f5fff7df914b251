"""The export formats: each an OpenTimelineIO adapter, with what it is given.

Every format is written by its OTIO adapter from the one timeline of
`storyboard.export.timeline`; what differs is only how a file is referred to
and the adapter's own hints:

- `otio` (OTIO JSON) and `mlt` (MLT XML, what melt, Kdenlive and Shotcut
  read): paths relative to the export file, so the folder can move;
- `fcpxml` (Final Cut Pro X) and `fcp7` (FCP 7 XML: Premiere, Resolve):
  absolute `file://` URLs, the only references those editors link on open;
- `edl` (CMX 3600): no paths in the events; one reel name per clip file and the
  file in the adapter's comments.

The adapters are an optional extra (`pip install 'storyboard[export]'`);
`require_otio` says so when they are missing.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storyboard import scratch
from storyboard.errors import EnvironmentProblem, ExportError

if TYPE_CHECKING:
    import opentimelineio as otio

EXTRA = "pip install 'storyboard[export]'"


@dataclass(frozen=True)
class Format:
    name: str
    adapter: str  # the OTIO adapter's name
    suffix: str
    package: str  # the package that holds the adapter (for the message when missing)
    relative: bool  # media referred to by relative path (else by absolute file URL)
    label: str
    drops: str = ""  # what of the timeline the format (or its adapter) does not carry


FORMATS = {
    f.name: f
    for f in (
        Format("otio", "otio_json", ".otio", "opentimelineio", True, "OpenTimelineIO JSON"),
        Format(
            "fcpxml",
            "fcpx_xml",
            ".fcpxml",
            "otio-fcpx-xml-adapter",
            False,
            "FCPXML",
            "transitions and fades (cuts at their centres), marker notes, metadata",
        ),
        Format(
            "fcp7",
            "fcp_xml",
            ".xml",
            "otio-fcp-adapter",
            False,
            "FCP 7 XML",
            "transition kinds (all Cross Dissolve), marker notes, metadata",
        ),
        Format(
            "edl",
            "cmx_3600",
            ".edl",
            "otio-cmx3600-adapter",
            True,
            "CMX 3600 EDL",
            "sound and music, transition kinds (all dissolves), marker notes, metadata",
        ),
        Format(
            "mlt",
            "mlt_xml",
            ".mlt",
            "otio-mlt-adapter",
            True,
            "MLT XML",
            "markers, transition kinds, the music's mix, metadata (clips keep their sound)",
        ),
    )
}


def require_otio(fmt: Format) -> None:
    """Raise with the install line when OTIO or the format's adapter is missing."""
    try:
        import opentimelineio as otio
    except ImportError as exc:
        raise EnvironmentProblem(f"export needs OpenTimelineIO and its adapters: {EXTRA}") from exc
    if fmt.adapter not in otio.adapters.available_adapter_names():
        raise EnvironmentProblem(f"--format {fmt.name} needs the {fmt.package} adapter: {EXTRA}")


def reference(fmt: Format, export: Path) -> Callable[[Path], str]:
    """How `fmt` refers to a file, from the export file at `export`."""
    base = export.resolve().parent

    def where(path: Path) -> str:
        path = path.resolve()
        if not fmt.relative:
            return path.as_uri()
        try:
            return Path(os.path.relpath(path, base)).as_posix()
        except ValueError:  # another drive (Windows): no relative path exists
            return path.as_uri()

    return where


def _reels(timeline: otio.schema.Timeline) -> None:
    """An EDL names each source by an 8-character reel: one per clip file, in order of
    first use, so that no two files share one (truncated file names would)."""
    import opentimelineio as otio

    reels: dict[str, str] = {}
    for clip in timeline.find_clips():
        ref = clip.media_reference
        url = ref.target_url if isinstance(ref, otio.schema.ExternalReference) else clip.name
        reel = reels.setdefault(url, f"SB{len(reels) + 1:03d}")
        clip.metadata["cmx_3600"] = {"reel": reel}


def _neighbours(timeline: otio.schema.Timeline) -> Iterator[tuple[Any, Any, Any, Any]]:
    """(track, item before, item, item after) for every item of every track."""
    for track in timeline.tracks:
        items = list(track)
        for i, item in enumerate(items):
            before = items[i - 1] if i else None
            after = items[i + 1] if i + 1 < len(items) else None
            yield track, before, item, after


def _gap_handles(timeline: otio.schema.Timeline) -> None:
    """The EDL writer takes a transition's frames from the start of the item after it,
    also when that is a gap (black): give each gap the handle it lends."""
    import opentimelineio as otio

    for _, before, item, _ in _neighbours(timeline):
        if isinstance(item, otio.schema.Gap) and isinstance(before, otio.schema.Transition):
            item.source_range = otio.opentime.TimeRange(
                before.in_offset, item.source_range.duration
            )


# FCP 7's own audio cross fade: the transition Premiere and FCP 7 put between clips'
# sound (the adapter would write the video dissolve there too).
FCP7_AUDIO_FADE = {
    "name": "Cross Fade (+3dB)",
    "effectid": "KGAudioTransCrossFade3dB",
    "effecttype": "transition",
    "mediatype": "audio",
}


def _fcp7_hints(timeline: otio.schema.Timeline, size: tuple[int, int]) -> None:
    """What FCP 7 XML says and the adapter takes from its metadata: the sequence's
    frame size (else an editor assumes its own, and a vertical film is squeezed),
    a dissolve from or to nothing as a fade from or to black, and an audio cross
    fade on the sound tracks."""
    import opentimelineio as otio

    width, height = size
    timeline.metadata["fcp_xml"] = {
        "media": {"video": {"format": {"samplecharacteristics": {
            "width": width, "height": height, "rate": {"timebase": 24, "ntsc": "FALSE"},
        }}}}
    }  # fmt: skip
    for track, before, item, after in _neighbours(timeline):
        if not isinstance(item, otio.schema.Transition):
            continue
        hints: dict[str, Any] = {}
        if isinstance(after, otio.schema.Gap):
            hints["alignment"] = "end-black"
        elif before is None or isinstance(before, otio.schema.Gap):
            hints["alignment"] = "start-black"
        if track.kind == otio.schema.TrackKind.Audio:
            hints["effect"] = dict(FCP7_AUDIO_FADE)
        item.metadata["fcp_xml"] = hints


def write(timeline: otio.schema.Timeline, fmt: Format, out: Path, size: tuple[int, int]) -> None:
    """Write `timeline` as `fmt` to `out` (its own copy: adapters change what they write)."""
    import opentimelineio as otio

    timeline = copy.deepcopy(timeline)
    options: dict[str, Any] = {}
    if fmt.name == "edl":
        _reels(timeline)
        _gap_handles(timeline)
        options["rate"] = timeline.duration().rate
    elif fmt.name == "fcp7":
        _fcp7_hints(timeline, size)
    elif fmt.name == "mlt":
        # MLT plays a clip's sound with its picture: the adapter drops the sound
        # track's clips as duplicates (and would misplace its transitions).
        for track in [t for t in timeline.tracks if t.name == "sound"]:
            timeline.tracks.remove(track)
        options.update(width=str(size[0]), height=str(size[1]))  # the profile
    try:
        text = otio.adapters.write_to_string(timeline, adapter_name=fmt.adapter, **options)
    except (otio.exceptions.OTIOError, ValueError, KeyError, AttributeError) as exc:
        raise ExportError(f"the {fmt.label} adapter could not write the timeline: {exc}") from exc
    scratch.atomic_write(out, text if text.endswith("\n") else text + "\n")
