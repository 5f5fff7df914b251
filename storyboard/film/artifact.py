"""The film as an artifact keyed by its inputs: cut again only when one changed.

A film is a function of the cut's clips (their bytes, by SHA-256), the cut
itself (order, trims, transitions, the shots the contact sheet labels), the
music bed (its bytes and settings), the film settings, where it is written
and the stitcher's version. `film_key` hashes all of that; `film.json` in the
build folder keeps the key of the film last written with what the stitch
reported and the file stamps of the film, its poster and its contact sheet.

`current` finds the film current when the key is the same and the three files
are still the ones written (same inode, size, modification and change times):
then nothing is decoded or run, and the stitch reported last time is the
answer. A film edited, replaced or deleted since, a poster gone, or a record
that cannot be read is simply not current: the film is cut again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from storyboard import scratch
from storyboard.film.cut import CutClip, StitchOptions, StitchResult
from storyboard.language.montage import Audio

STITCHER_VERSION = 2
"""Bumped whenever the stitcher would make a different film from the same inputs,
so that a film cut by an older version is cut again."""
RECORD = "film.json"
MAX_RECORD_BYTES = 1 << 20

Stamp = list[int]


def stamp(path: Path) -> Stamp | None:
    """What identifies a file's present bytes without reading them, or None if absent."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def film_key(
    clips: Sequence[CutClip],
    digests: Sequence[str],
    music: Audio | None,
    music_digest: str | None,
    options: StitchOptions,
    out: Path,
) -> str:
    """The SHA-256 of everything the film at `out` is made from; `digests` are the
    clips' content hashes in cut order, `music_digest` the music file's."""
    cut = [
        {
            "sha256": digest,
            "label": clip.label,
            "trim": list(clip.trim) if clip.trim is not None else None,
            "transition": [clip.transition.type, clip.transition.duration],
            "shots": [[m.label, m.start, m.duration] for m in clip.shots],
        }
        for clip, digest in zip(clips, digests, strict=True)
    ]
    bed = None
    if music is not None:
        bed = {**asdict(music), "music": music_digest}
    inputs = {
        "stitcher": STITCHER_VERSION,
        "out": str(out),
        "cut": cut,
        "music": bed,
        "options": asdict(options),
    }
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FilmRecord:
    """The film last written in a build folder: its key, its files' stamps, its stitch."""

    key: str
    stamps: dict[str, Stamp]
    result: StitchResult


def _outputs(result: StitchResult) -> list[Path]:
    return [result.path, result.poster, result.contact_sheet]


def save(build_dir: Path, key: str, result: StitchResult) -> None:
    """Record `result` as the film made from `key` (after it is in place)."""
    stamps = {str(p): s for p in _outputs(result) if (s := stamp(p)) is not None}
    data = {"key": key, "stamps": stamps, "result": _result_json(result)}
    scratch.atomic_write(build_dir / RECORD, json.dumps(data, indent=2) + "\n")


def forget(build_dir: Path) -> None:
    """No film is current any more (one is being cut: a crash leaves none current)."""
    (build_dir / RECORD).unlink(missing_ok=True)


def current(build_dir: Path, key: str) -> StitchResult | None:
    """The film recorded in `build_dir` if it was made from `key` and its files are
    untouched since, marked `reused`; else None."""
    record = _load(build_dir / RECORD)
    if record is None or record.key != key:
        return None
    for path in _outputs(record.result):
        if record.stamps.get(str(path)) != stamp(path):
            return None
    return replace(record.result, reused=True, seconds=0.0)


def _result_json(result: StitchResult) -> dict[str, Any]:
    data = asdict(result)
    for name in ("path", "poster", "contact_sheet"):
        data[name] = str(data[name])
    data["size"] = list(result.size)
    return data


def _load(path: Path) -> FilmRecord | None:
    """The record at `path`, or None if it is missing, too large or not one of ours."""
    try:
        if os.path.getsize(path) > MAX_RECORD_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        fields = dict(data["result"])
        for name in ("path", "poster", "contact_sheet"):
            fields[name] = Path(fields[name])
        fields["size"] = tuple(fields["size"])
        result = StitchResult(**fields)
        stamps = {str(k): [int(x) for x in v] for k, v in data["stamps"].items()}
        return FilmRecord(str(data["key"]), stamps, result)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
