"""The plan's film: its cut mapped onto the stitcher, cut again only when it changed.

`film_job` turns the plan's cut into the stitcher's clips and music and keys
them by their inputs (`storyboard.film.artifact`); `current_film` finds the
film already cut from exactly those, `cut_film` cuts it otherwise.
`gather_clips` is what `storyboard stitch` checks first: that the build holds
the chosen take of every task, as rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.compile.plan import Plan, PlanTask
from storyboard.digest import file_sha256
from storyboard.errors import StitchError
from storyboard.film import artifact
from storyboard.film.cut import (
    Audio,
    CutClip,
    ShotMark,
    StitchOptions,
    StitchProgress,
    StitchResult,
    Transition,
)
from storyboard.language.montage import Film
from storyboard.run.journal import TaskRecord, existing_journal

MEASURES = "measures"  # beside the clips in the cache: what was measured of each clip


def cut_clips(plan: Plan, build_dir: Path) -> list[CutClip]:
    """The plan's cut as stitcher clips: a split scene's parts follow each other
    with hard cuts; the entry's transition leads into its first part."""
    clips = []
    for entry in plan.cut:
        for i, seg in enumerate(entry.segments):
            task = plan.task(seg.task)
            start, end = float(seg.start), float(seg.end)
            whole = start == 0 and abs(end - float(task.seconds)) < 1e-6
            marks = tuple(
                ShotMark(
                    label=f"{task.id} · shot {s.index}",
                    start=max(0.0, s.start - start),
                    duration=min(end, s.start + (s.duration or 0)) - max(start, s.start),
                )
                for s in task.shots
                if s.start < end and s.start + (s.duration or 0) > start
            )
            lead_in = entry.transition if i == 0 else None  # None: a hard cut
            clips.append(
                CutClip(
                    path=build_dir / "clips" / f"{task.chosen.label}.mp4",
                    label=task.chosen.label,
                    trim=None if whole else (start, end),
                    transition=(
                        Transition(lead_in.type, float(lead_in.duration))
                        if lead_in is not None
                        else Transition("cut", 0.0)
                    ),
                    shots=marks,
                )
            )
    return clips


@dataclass(frozen=True)
class Gathered:
    """What `storyboard stitch` found in a build: where its clips come from, the ones
    the journal knows nothing of, and the ones built from another take upstream."""

    sources: list[str]
    unknown: list[str]
    repicked: list[str]


def gather_clips(plan: Plan, build_dir: Path) -> Gathered:
    """Check that `build_dir/clips/` holds the chosen take of every task, for
    `storyboard stitch`. A clip the journal records under another cache key was rendered
    before the storyboard changed: it is refused, never stitched in silently.
    A clip whose bytes are not the ones the journal recorded when its task was
    done was damaged since: refused too (`render` fetches it again, free). A clip
    of the same request built from another take of a task upstream (a pick since)
    is used, and named: the next `render` makes it from the picked take.
    Returns the sources of the clips (`preview-r3`, `kirin-...`), the tasks whose
    clips the journal knows nothing of (placed there by hand: used as they are) and
    those built from another take upstream."""
    stale, missing, damaged, sources, unknown, repicked = [], [], [], set(), [], []
    with existing_journal(build_dir / "journal.sqlite") as journal:
        for task in plan.tasks:
            label = task.chosen.label
            clip = build_dir / "clips" / f"{label}.mp4"
            record = journal.get(label) if journal is not None else None
            if not clip.is_file():
                missing.append(label)
            elif record is None:
                unknown.append(label)
            elif record.payload_key != task.cache_key and not _repicked(record, task):
                stale.append(label)
            elif record.clip_sha256 and file_sha256(clip) != record.clip_sha256:
                damaged.append(label)
            else:
                sources.add(record.source)
                if record.payload_key != task.cache_key:
                    repicked.append(label)
    reasons = []
    if stale:
        reasons.append(f"changed since their clips were rendered: {', '.join(stale)}")
    if missing:
        reasons.append(f"not rendered in {build_dir}: {', '.join(missing)}")
    if damaged:
        reasons.append(
            f"whose clips changed on disk since they were rendered: {', '.join(damaged)}"
        )
    if reasons:
        raise StitchError(
            f"cannot re-cut without rendering; tasks {'; '.join(reasons)}. "
            "Run `storyboard render` (it renders only what is needed)."
        )
    return Gathered(sorted(sources), unknown, repicked)


def _repicked(record: TaskRecord, task: PlanTask) -> bool:
    """The record is of the same request as `task`, built from another take upstream."""
    return bool(task.request_key) and record.request_key == task.request_key


def film_path(plan: Plan, build_dir: Path) -> Path:
    return (build_dir / plan.output).resolve()


@dataclass(frozen=True)
class FilmJob:
    """What the film is cut from, and the key of those inputs (`film.artifact`)."""

    clips: list[CutClip]
    music: Audio | None
    options: StitchOptions
    out: Path
    key: str


def film_job(plan: Plan, build_dir: Path) -> FilmJob:
    """The plan's cut as the stitcher takes it, keyed by the clips' bytes."""
    clips = cut_clips(plan, build_dir)
    missing = [c.label for c in clips if not c.path.is_file()]
    if missing:
        raise StitchError(f"no clip rendered yet for: {', '.join(missing)} (run render first)")
    music = None
    if plan.audio is not None:
        a = plan.audio
        music = Audio(
            music=str((build_dir / a.music).resolve()),
            volume=a.volume,
            fade_in=a.fade_in,
            fade_out=a.fade_out,
            loop=a.loop,
            duck=a.duck,
        )
    return job_of(clips, music, film_options(plan.film), film_path(plan, build_dir))


def job_of(clips: list[CutClip], music: Audio | None, options: StitchOptions, out: Path) -> FilmJob:
    """The film cut from `clips` and `music` with `options` at `out`, keyed by the
    bytes of every file it is made from."""
    music_digest = None
    if music is not None:
        try:
            music_digest = file_sha256(Path(music.music))
        except OSError:  # not current, and the stitch says what is wrong with it
            music_digest = None
    digests = [file_sha256(c.path) for c in clips]
    key = artifact.film_key(clips, digests, music, music_digest, options, out)
    return FilmJob(clips, music, options, out, key)


def current_film(job: FilmJob, build_dir: Path) -> StitchResult | None:
    """The film already in `build_dir` when it was cut from exactly these inputs
    (music that cannot be read has no digest, so no film was cut from it)."""
    return artifact.current(build_dir, job.key)


def cut_film(
    job: FilmJob,
    build_dir: Path,
    memo: Path | None = None,
    progress: StitchProgress | None = None,
) -> StitchResult:
    """Cut the film and record what it was cut from; `memo`: where measurements of
    single clips are kept between stitches (the cache's); `progress` is told the
    seconds of the film written."""
    artifact.forget(build_dir)
    job.out.parent.mkdir(parents=True, exist_ok=True)
    from storyboard.film.stitch import stitch  # ffmpeg graphs, PyAV, Pillow: only to cut

    film = stitch(
        job.clips, job.out, music=job.music, options=job.options, memo=memo, progress=progress
    )
    artifact.save(build_dir, job.key, film)
    return film


def stitch_plan(plan: Plan, build_dir: Path, memo: Path | None = None) -> StitchResult:
    """The plan's film: the one in `build_dir` if it is current, else cut now."""
    job = film_job(plan, build_dir)
    return current_film(job, build_dir) or cut_film(job, build_dir, memo)


def film_options(film: Film) -> StitchOptions:
    """The storyboard's `film:` settings over the stitcher's defaults (only what the
    author set counts, as plan.json shows)."""
    chosen = film.to_json()
    if film.size is not None:
        chosen["size"] = film.size
    return StitchOptions(**chosen)


def film_record(film: StitchResult) -> dict[str, Any]:
    """What run.json says about the film."""
    return {
        "path": str(film.path),
        "duration": film.duration,
        "expected": film.expected,
        "frames": film.frames,
        "size": list(film.size),
        "method": film.method,
        "why": film.reason,
        "av_gap": film.av_gap,
        "loudness_lufs": film.loudness,
        "gain_db": film.gain_db,
        "poster": str(film.poster),
        "contact_sheet": str(film.contact_sheet),
        "stitch_seconds": round(film.seconds, 3),
        "reused": film.reused,  # current already: nothing was cut this time
    }
