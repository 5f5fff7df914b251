"""`storyboard render` end to end, through the real command line.

Every example renders with the preview backend and with the kirin client
against the mock provider over real HTTP; the film is probed. Then what the
user pays for: an edit re-renders only what it touches (requests counted at
the mock), an unchanged storyboard sends nothing, a render killed with
SIGKILL (or interrupted) resumes without creating or billing a task twice,
and a task the provider refuses skips only its descendants.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from storyboard.media import decode_check_ffmpeg, probe
from storyboard.mock.server import MockConfig, MockHandle, running_mock
from tests.conftest import EXAMPLES

EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "storyboard.yaml").is_file())
FRAME = 1 / 24


def storyboard(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storyboard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def copy_example(name: str, dest: Path) -> Path:
    shutil.copytree(EXAMPLES / name, dest, ignore=shutil.ignore_patterns("build"))
    return dest / "storyboard.yaml"


def run_record(build: Path) -> dict[str, Any]:
    return json.loads((build / "run.json").read_text(encoding="utf-8"))


def check_film(build: Path, plan: dict[str, Any]) -> None:
    """The film exists, has the cut's length, 24 fps, sound, and decodes cleanly."""
    record = run_record(build)
    film = Path(record["film"]["path"])
    info = probe(film)
    assert info.fps == 24 and info.has_audio and info.video_codec == "h264"
    assert abs(info.video_duration - record["film"]["expected"]) <= FRAME + 1e-6
    assert abs(info.audio_duration - info.video_duration) <= FRAME + 1e-6
    first_task = plan["cut"][0]["segments"][0]["task"]
    first_clip = probe(build / "clips" / f"{first_task}.mp4")
    assert (info.width, info.height) == (first_clip.width, first_clip.height)
    decode_check_ffmpeg(film)


# --- every example, both ways ---------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_renders_with_the_preview_backend(
    name: str, tmp_path: Path, env: dict[str, str]
) -> None:
    build = tmp_path / "build"
    result = storyboard("render", str(EXAMPLES / name / "storyboard.yaml"),
                        "--build-dir", str(build), env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    plan = json.loads((build / "plan.json").read_text())
    check_film(build, plan)
    record = run_record(build)
    assert record["backend"] == "preview" and record["ok"]
    assert record["totals"]["rendered"] == len(plan["tasks"])
    assert "film:" in result.stdout and f"{len(plan['tasks'])} rendered" in result.stdout
    assert not record["film"]["reused"]

    # Rendered again, unchanged: nothing is rendered or cut, and the film is left alone.
    film = Path(record["film"]["path"])
    before = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in build.glob("storyboard.*")]
    again = storyboard("render", str(EXAMPLES / name / "storyboard.yaml"),
                       "--build-dir", str(build), env=env)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "current: nothing it is cut from changed" in again.stdout
    assert "0 rendered" in again.stdout and "stitch_started" not in again.stderr
    assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in build.glob("storyboard.*")] == before
    record = run_record(build)
    assert record["film"]["reused"] and record["totals"]["rendered"] == 0
    assert record["film"]["path"] == str(film) and record["film"]["method"]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_renders_with_kirin_against_the_mock(
    name: str, tmp_path: Path, env: dict[str, str], mock: MockHandle
) -> None:
    build = tmp_path / "build"
    result = storyboard(
        "render", str(EXAMPLES / name / "storyboard.yaml"), "--backend", "kirin", "--yes",
        "--base-url", mock.base_url, "--build-dir", str(build), env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    plan = json.loads((build / "plan.json").read_text())
    check_film(build, plan)
    stats = mock.stats()
    sent = {t["payload"]["external_task_id"] for t in plan["tasks"]}
    assert stats["create_by_external_id"] == dict.fromkeys(sent, 1)
    billed = run_record(build)["totals"]["billed_usd"]
    assert billed == pytest.approx(sum(t.cost for t in mock.state.tasks.values()), abs=1e-3)
    assert billed == pytest.approx(plan["estimate"]["total_usd"], abs=1e-3)
    assert "estimated cost" in result.stderr


# --- paying once ----------------------------------------------------------------------------


def test_an_edit_re_renders_only_its_task_and_descendants(
    tmp_path: Path, env: dict[str, str], mock: MockHandle
) -> None:
    story = copy_example("recipe-square", tmp_path / "recipe")
    args = ["render", str(story), "--backend", "kirin", "--yes", "--base-url", mock.base_url]
    assert storyboard(*args, env=env).returncode == 0
    first = mock.stats()
    assert first["create"] == 4

    text = story.read_text(encoding="utf-8")
    story.write_text(text.replace("Eggs crack one by one", "Eggs slide gently"), "utf-8")
    result = storyboard(*args, env=env)
    assert result.returncode == 0, result.stderr
    second = mock.stats()
    plan = json.loads((story.parent / "build" / story.stem / "plan.json").read_text())
    ids = {t["id"]: t["payload"]["external_task_id"] for t in plan["tasks"]}
    new = set(second["create_by_external_id"]) - set(first["create_by_external_id"])
    assert new == {ids["method.2"], ids["plating"]}  # the edited part and what follows it
    assert second["create"] - first["create"] == 2
    totals = run_record(story.parent / "build" / story.stem)["totals"]
    assert (totals["rendered"], totals["cached"]) == (2, 2)

    assert storyboard(*args, env=env).returncode == 0
    assert mock.stats()["total"] == second["total"]  # unchanged: not one request
    assert run_record(story.parent / "build" / story.stem)["totals"]["cached"] == 4


# The CLI as a user's foreground process: a shell's background job (a CI step run with
# `&`) inherits SIGINT ignored, and a render started that way rightly ignores Ctrl-C.
FOREGROUND = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from storyboard.cli import main; sys.argv[0] = 'storyboard'; main()"
)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_render_resumes_without_paying_twice(
    how: signal.Signals, tmp_path: Path, env: dict[str, str]
) -> None:
    story = copy_example("lighthouse", tmp_path / "lighthouse")
    slow = MockConfig(queue_seconds=0.3, process_seconds=2.5, render_workers=2)
    with running_mock(slow) as mock:
        args = ["render", str(story), "--backend", "kirin", "--yes", "--base-url", mock.base_url]
        proc = subprocess.Popen(
            [sys.executable, "-c", FOREGROUND, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while mock.stats()["create"] < 2 or mock.state.unfinished() == 0:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no task reached the mock"
            time.sleep(0.05)
        in_flight = mock.state.unfinished()
        proc.send_signal(how)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode != 0, err
        if how == signal.SIGINT:
            assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
            # The run record says what happened so far (before: no run.json at all).
            record = run_record(story.parent / "build" / story.stem)
            assert record["state"] == "interrupted" and not record["ok"]
            assert {t["status"] for t in record["tasks"].values()} <= {"done", "interrupted"}
            assert "interrupted" in {t["status"] for t in record["tasks"].values()}
        assert in_flight >= 1

        result = storyboard(*args, env=env)
        assert result.returncode == 0, result.stderr
        stats = mock.stats()
    plan = json.loads((story.parent / "build" / story.stem / "plan.json").read_text())
    sent = {t["payload"]["external_task_id"] for t in plan["tasks"]}
    assert len(mock.state.tasks) == len(plan["tasks"])  # no task created twice
    assert set(stats["create_by_external_id"]) == sent
    assert all(n == 1 for n in stats["create_by_external_id"].values())
    billed = sum(t.cost for t in mock.state.tasks.values())
    assert billed == pytest.approx(plan["estimate"]["total_usd"], abs=1e-3)  # each task once
    check_film(story.parent / "build" / story.stem, plan)


# --- failures and spend -------------------------------------------------------------------


def test_a_refused_task_skips_its_descendants_and_the_report_says_why(
    tmp_path: Path, env: dict[str, str]
) -> None:
    story = copy_example("recipe-square", tmp_path / "recipe")
    refused = MockConfig(queue_seconds=0.05, process_seconds=0.1, e3_match=("Crushed tomatoes",))
    with running_mock(refused) as mock:
        result = storyboard(
            "render", str(story), "--backend", "kirin", "--yes", "--base-url", mock.base_url,
            env=env,
        )  # fmt: skip
    assert result.returncode == 1
    assert "failed: method.1: TaskCreationError" in result.stdout
    assert "skipped: method.2: upstream method.1 failed" in result.stdout
    assert "skipped: plating: upstream method.2 skipped" in result.stdout
    assert "no film" in result.stdout and "Traceback" not in result.stderr
    record = run_record(story.parent / "build" / story.stem)
    assert record["tasks"]["intro"]["status"] == "done"
    assert record["totals"] | {"estimated_usd": 0} == {
        "tasks": 4, "takes": 4, "rendered": 1, "cached": 0, "failed": 1, "skipped": 2,
        "unselected": 0,
        "billed_usd": record["totals"]["billed_usd"], "estimated_usd": 0,
        "billed_this_run_usd": record["totals"]["billed_usd"],
        "clips_cost_usd": record["totals"]["billed_usd"],
    }  # fmt: skip
    assert record["film"] is None


def test_a_render_through_faults_of_every_kind_completes_and_pays_each_clip_once(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """About one request or task in five meets a transient fault (E1, E2, 429, 5xx,
    slow, hanging, dropped, malformed, truncated, expired); the command line
    still delivers the film and pays for each clip once."""
    story = copy_example("recipe-square", tmp_path / "recipe")
    profile = tmp_path / "provider.json"
    profile.write_text(
        json.dumps({"poll_initial": 0.05, "poll_max": 0.25, "request_timeout": 1.0}),
        encoding="utf-8",
    )
    faults = MockConfig(
        queue_seconds=0.05, process_seconds=0.1, seed=105,
        e1_rate=0.1, e2_rate=0.1, http_429_rate=0.03, retry_after=0.1, http_5xx_rate=0.03,
        slow_rate=0.03, slow_seconds=0.2, hang_rate=0.02, hang_seconds=3.0, drop_rate=0.03,
        malformed_rate=0.03, truncate_rate=0.2, url_expiry_seconds=0.5,
    )  # fmt: skip
    with running_mock(faults) as mock:
        result = storyboard(
            "render", str(story), "--backend", "kirin", "--yes", "--base-url", mock.base_url,
            env={**env, "STORYBOARD_PROVIDER": str(profile)},
        )  # fmt: skip
        stats = mock.stats()
    assert result.returncode == 0, result.stdout + result.stderr
    build = story.parent / "build" / story.stem
    plan = json.loads((build / "plan.json").read_text())
    check_film(build, plan)
    injected = {k: v for k, v in stats.items() if k.startswith("fault_") and v}
    # Each endpoint draws from its own seeded stream: seed 105 puts these seven kinds
    # within the first 4 creates, statuses, downloads and task fates (one per task).
    expected = {"e1", "e2", "http_5xx", "slow", "drop", "malformed", "truncate"}
    assert expected <= {k.removeprefix("fault_") for k in injected}, injected
    completed = [t for t in mock.state.tasks.values() if t.clip is not None]
    assert len(completed) == len(plan["tasks"])  # failed tasks were retried as new ones
    assert sum(t.cost for t in completed) == pytest.approx(plan["estimate"]["total_usd"], abs=1e-3)
    assert run_record(build)["totals"]["billed_usd"] == pytest.approx(
        plan["estimate"]["total_usd"], abs=1e-3
    )


def test_over_budget_nothing_is_sent(tmp_path: Path, env: dict[str, str], mock: MockHandle) -> None:
    story = copy_example("recipe-square", tmp_path / "recipe")
    result = storyboard(
        "render", str(story), "--backend", "kirin", "--yes", "--max-cost", "1.00",
        "--base-url", mock.base_url, env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert "over --max-cost $1.00; nothing was sent" in result.stderr
    assert mock.stats()["total"] == 0


def test_real_spend_needs_a_confirmation(
    tmp_path: Path, env: dict[str, str], mock: MockHandle
) -> None:
    story = copy_example("recipe-square", tmp_path / "recipe")
    result = storyboard(
        "render", str(story), "--backend", "kirin", "--base-url", mock.base_url, env=env
    )
    assert result.returncode == 2
    assert "pass --yes" in result.stderr and "$2.10" in result.stderr
    assert mock.stats()["total"] == 0


def test_json_events_describe_the_run(tmp_path: Path, env: dict[str, str]) -> None:
    story = copy_example("recipe-square", tmp_path / "recipe")
    result = storyboard("render", str(story), "--json", env=env)
    assert result.returncode == 0, result.stderr
    everything = [json.loads(line) for line in result.stdout.splitlines()]
    written = [e["seconds"] for e in everything if e["event"] == "stitch_progress"]
    assert written and written == sorted(written)  # the stitch says how far it is
    events = [e for e in everything if e["event"] != "stitch_progress"]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-3:] == [
        "run_finished",
        "stitch_started",
        "stitch_done",
    ]
    assert kinds.count("task_done") == 4 and events[-3]["ok"] is True
    film = run_record(story.parent / "build" / story.stem)["film"]
    assert events[-1]["duration"] == pytest.approx(film["duration"], abs=1e-3)
    assert all("at" in e for e in events)


def test_select_and_force_choose_what_runs(tmp_path: Path, env: dict[str, str]) -> None:
    story = copy_example("recipe-square", tmp_path / "recipe")
    build = story.parent / "build" / story.stem

    result = storyboard("render", str(story), "--select", "+method", env=env)
    assert result.returncode == 0, result.stderr
    record = run_record(build)
    assert {t: v["status"] for t, v in record["tasks"].items()} == {
        "intro": "unselected", "method.1": "done", "method.2": "done", "plating": "done"
    }  # fmt: skip
    assert record["film"] is None
    assert "no film yet: intro not selected and not in the cache" in result.stdout

    result = storyboard("render", str(story), env=env)  # the rest: only intro is new
    assert result.returncode == 0, result.stderr
    totals = run_record(build)["totals"]
    assert (totals["rendered"], totals["cached"]) == (1, 3)
    assert run_record(build)["film"] is not None

    first_take = (build / "clips" / "intro.mp4").read_bytes()
    result = storyboard("render", str(story), "--force", "intro", env=env)
    assert result.returncode == 0, result.stderr
    assert "makes a new take of intro" in result.stderr
    record = run_record(build)
    assert record["tasks"]["intro@2"]["status"] == "done"  # a new take, under a new id
    assert record["tasks"]["intro"]["status"] == "cached"  # take 1 kept, still the film's
    assert record["film_takes"]["intro"] == "intro@1"
    assert record["totals"]["cached"] == 4 and record["totals"]["rendered"] == 1
    assert (build / "clips" / "intro.mp4").read_bytes() == first_take
    assert (build / "clips" / "intro@2.mp4").is_file()

    result = storyboard("render", str(story), "--select", "nosuchscene", env=env)
    assert result.returncode == 2 and "no such task or scene" in result.stderr


def test_stitch_re_cuts_without_rendering_and_refuses_stale_clips(
    tmp_path: Path, env: dict[str, str]
) -> None:
    story = copy_example("recipe-square", tmp_path / "recipe")
    build = story.parent / "build" / story.stem
    assert storyboard("render", str(story), env=env).returncode == 0
    before = {p.name: p.stat().st_mtime_ns for p in (build / "preview").rglob("*") if p.is_file()}
    first = run_record(build)["film"]["duration"]

    # A cut edit: the crossfade into `method` becomes a hard cut (0.5 s longer film).
    text = story.read_text(encoding="utf-8")
    story.write_text(
        text.replace("{scene: method, transition: {type: crossfade, duration: 0.5}}",
                     "{scene: method}"), encoding="utf-8")  # fmt: skip
    result = storyboard("stitch", str(story), env=env)
    assert result.returncode == 0, result.stderr
    film = probe(build / "storyboard.mp4")
    assert abs(film.video_duration - (first + 0.5)) <= FRAME + 1e-6
    after = {p.name: p.stat().st_mtime_ns for p in (build / "preview").rglob("*") if p.is_file()}
    assert after == before  # nothing was rendered

    # The same re-cut with the clip cache gone: the build's journal vouches for its clips.
    shutil.copytree(tmp_path / "cache", tmp_path / "cache-copy")
    shutil.rmtree(tmp_path / "cache")
    assert storyboard("stitch", str(story), env=env).returncode == 0

    # A build clip damaged on disk (same length): refused by name; `render` restores it
    # from the cache without rendering anything.
    shutil.copytree(tmp_path / "cache-copy", tmp_path / "cache")
    clip = build / "clips" / "intro.mp4"
    data = bytearray(clip.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 512] = bytes(512)
    clip.write_bytes(bytes(data))
    result = storyboard("stitch", str(story), env=env)
    assert result.returncode == 1
    assert "whose clips changed on disk since they were rendered: intro." in result.stderr
    assert storyboard("render", str(story), env=env).returncode == 0
    record = run_record(build)
    assert record["tasks"]["intro"]["cache_hit"] is True  # restored, not rendered
    # The crossfade taken out moved the later scenes in the film: their preview cards
    # (which show the film's time) were drawn again, and intro's was not.
    assert (record["totals"]["rendered"], record["totals"]["cached"]) == (3, 1)
    assert storyboard("stitch", str(story), env=env).returncode == 0

    # A prompt edit in the second part: its clip and its descendant's are stale; refused by name.
    story.write_text(
        story.read_text(encoding="utf-8").replace("Eggs crack one by one", "Eggs slide"),
        encoding="utf-8",
    )
    result = storyboard("stitch", str(story), env=env)
    assert result.returncode == 1
    assert "changed since their clips were rendered: method.2, plating." in result.stderr
    assert "Traceback" not in result.stderr
    assert probe(build / "storyboard.mp4").video_duration == film.video_duration  # untouched

    # Clips put in a build folder by hand (no journal to judge them): used as they are.
    elsewhere = tmp_path / "by-hand"
    shutil.copytree(build / "clips", elsewhere / "clips")
    result = storyboard("stitch", str(story), "--build-dir", str(elsewhere), env=env)
    assert result.returncode == 0, result.stderr
    assert "no render recorded for intro, method.1, method.2, plating" in result.stderr


def test_a_preview_clip_never_stands_in_for_a_paid_one(
    tmp_path: Path, env: dict[str, str], mock: MockHandle
) -> None:
    story = copy_example("recipe-square", tmp_path / "recipe")
    assert storyboard("render", str(story), env=env).returncode == 0  # animatics, cached
    plan_rows = storyboard("plan", str(story), "--json", env=env)
    assert all(row["cached"] for row in json.loads(plan_rows.stdout))
    kirin = ["--backend", "kirin", "--base-url", mock.base_url]
    plan_rows = storyboard("plan", str(story), "--json", *kirin, env=env)
    assert not any(row["cached"] for row in json.loads(plan_rows.stdout))

    result = storyboard("render", str(story), *kirin, "--yes", env=env)
    assert result.returncode == 0, result.stderr
    assert "estimated cost: $2.10" in result.stderr  # nothing counted as already paid for
    assert mock.stats()["create"] == 4
    totals = run_record(story.parent / "build" / story.stem)["totals"]
    assert (totals["rendered"], totals["cached"]) == (4, 0)

    # Each backend keeps its own clips: back to preview is all cached, and so is kirin.
    result = storyboard("render", str(story), env=env)
    assert run_record(story.parent / "build" / story.stem)["totals"]["cached"] == 4
    assert storyboard("render", str(story), *kirin, "--yes", env=env).returncode == 0
    assert mock.stats()["create"] == 4
    stitched = storyboard("stitch", str(story), env=env)
    assert stitched.returncode == 0 and "clips from kirin-127.0.0.1_" in stitched.stdout


def test_one_render_at_a_time_in_a_build_dir(tmp_path: Path, env: dict[str, str]) -> None:
    story = copy_example("recipe-square", tmp_path / "recipe")
    build = story.parent / "build" / story.stem
    build.mkdir(parents=True)
    with open(build / ".lock", "a+", encoding="utf-8") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a render already running here
        held.write("pid 4242\n")
        held.flush()
        for command in ("render", "stitch"):
            result = storyboard(command, str(story), env=env)
            assert result.returncode == 2, result.stderr
            assert "in use by another storyboard render or stitch (pid 4242)" in result.stderr
    assert not (build / "clips").exists()  # it touched nothing
    assert storyboard("render", str(story), env=env).returncode == 0  # free again


def test_a_build_dir_that_cannot_be_made_is_a_message(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    result = storyboard("render", str(EXAMPLES / "recipe-square" / "storyboard.yaml"),
                        "--build-dir", str(tmp_path / "a-file" / "build"), env=env)  # fmt: skip
    assert result.returncode == 2
    assert "Not a directory" in result.stderr and "Traceback" not in result.stderr


def test_an_unwritable_cache_folder_is_a_warning_and_the_film_is_made(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The cache cannot be written (its folder is a file): each clip stays in the build,
    the warning says why, the run record is written and the film is made. Before, an
    OSError escaped the executor's task group as a traceback and no run.json was written."""
    story = copy_example("recipe-square", tmp_path / "recipe")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    env = {**env, "STORYBOARD_CACHE": str(blocker / "cache")}
    result = storyboard("render", str(story), env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "cache_unwritable" in result.stderr and "cannot store the clip" in result.stderr
    record = run_record(story.parent / "build" / story.stem)
    assert record["ok"] and record["totals"]["rendered"] == 4 and record["film"] is not None


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder`: its inode and mtime, to see that nothing was touched."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_two_storyboards_in_one_folder_render_side_by_side(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Each storyboard builds into `build/<stem>/`: rendering `take2.yaml` beside
    `storyboard.yaml` leaves the other's plan, run record, clips and film alone,
    and the first one's `stitch` still finds every clip its own."""
    story = copy_example("recipe-square", tmp_path / "film")
    second = story.with_name("take2.yaml")
    text = story.read_text(encoding="utf-8")
    second.write_text(text.replace("Shakshuka", "Shakshuka, take two"), encoding="utf-8")
    assert storyboard("render", str(story), env=env).returncode == 0
    first_build = story.parent / "build" / "storyboard"
    before = _tree(first_build)
    assert "plan.json" in before and "storyboard.mp4" in before
    rendered = storyboard("render", str(second), env=env)
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    second_build = story.parent / "build" / "take2"
    assert (second_build / "take2.mp4").is_file() and (second_build / "run.json").is_file()
    assert _tree(first_build) == before
    stitched = storyboard("stitch", str(story), env=env)
    assert stitched.returncode == 0, stitched.stderr[-3000:]
    assert "refus" not in stitched.stderr + stitched.stdout
    kept = {k: v for k, v in before.items() if k.startswith(("clips/", "storyboard."))}
    after = _tree(first_build)
    assert {k: after[k] for k in kept} == kept  # its clips, and the film is current


def test_a_change_of_film_time_redraws_only_the_preview_cards_it_moves(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The preview's cards show the film's time, so a longer transition into the last
    scene draws that scene's cards again (never serving one with the old time), and
    only those: the others' clips are still cached, and no request key changed."""
    story = copy_example("recipe-square", tmp_path / "recipe")
    assert storyboard("render", str(story), env=env).returncode == 0
    build = story.parent / "build" / story.stem
    keys = {t["id"]: t["cache_key"] for t in json.loads((build / "plan.json").read_text())["tasks"]}
    text = story.read_text(encoding="utf-8")
    longer = text.replace("type: circleopen, duration: 0.6", "type: circleopen, duration: 1.0")
    assert longer != text
    story.write_text(longer, encoding="utf-8")
    again = storyboard("render", str(story), env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "1 rendered, 3 cached" in again.stdout + again.stderr
    after = {
        t["id"]: t["cache_key"] for t in json.loads((build / "plan.json").read_text())["tasks"]
    }
    assert after == keys  # the requests (and kirin's cache) are untouched
    tasks = run_record(build)["tasks"]
    assert [t for t, r in tasks.items() if not r["cache_hit"]] == ["plating"]
