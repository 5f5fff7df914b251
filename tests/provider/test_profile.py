"""The provider profile: documented defaults, file overrides, env override, field paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyboard.errors import EnvironmentProblem
from storyboard.provider.profile import (
    BASE_URL_ENV,
    PROVIDER_ENV,
    PollPlanner,
    ProviderProfile,
    extract,
    load_profile,
)

STATUS = {
    "task_id": "t1",
    "status": "completed",
    "error": None,
    "output": [
        {
            "content": [{"type": "image", "url": "i"}, {"type": "video", "url": "v.mp4"}],
            "duration": 5.0,
            "jobId": "j",
        }
    ],
    "usage": {"cost": "0.42", "discount": 0},
}


def test_defaults_follow_design_section_4() -> None:
    p = load_profile(env={})
    assert p == ProviderProfile()
    assert p.base_url == ""  # the seed names none: never guessed
    assert (p.create_path, p.query_path, p.query_param) == (
        "/v1/videos/omni-video",
        "/v1/videos/omni-video",
        "external_task_id",
    )
    assert p.in_progress_statuses == ("queued", "processing")
    assert (p.completed_statuses, p.failed_statuses) == (("completed",), ("failed",))


def test_base_url_is_required_to_build_urls() -> None:
    with pytest.raises(EnvironmentProblem, match=BASE_URL_ENV):
        ProviderProfile().url("/v1/videos/omni-video")
    p = ProviderProfile(base_url="http://gw.local/kirin/")
    assert p.status_url("t 1") == "http://gw.local/kirin/v1/videos/omni-video/t%201"
    assert p.url("https://cdn.example.com/x.mp4") == "https://cdn.example.com/x.mp4"


def test_toml_file_from_env_and_base_url_override(tmp_path: Path) -> None:
    file = tmp_path / "provider.toml"
    file.write_text(
        '[provider]\nbase_url = "http://file.local"\nstatus_path = "/v2/tasks/{task_id}"\n'
        'in_progress_statuses = ["submitted", "running"]\npoll_max = 30\nenvelope = "data"\n'
    )
    p = load_profile(env={PROVIDER_ENV: str(file)})
    assert p.base_url == "http://file.local"
    assert p.status_url("x") == "http://file.local/v2/tasks/x"
    assert p.in_progress_statuses == ("submitted", "running")
    assert p.poll_max == 30.0 and p.envelope == "data"
    p = load_profile(file, env={BASE_URL_ENV: "http://env.local"})
    assert p.base_url == "http://env.local"
    assert load_profile(file, env={}, base_url="http://cli.local").base_url == "http://cli.local"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"base_ulr": "http://x"}', "unknown setting 'base_ulr'"),
        ('{"poll_max": "fast"}', "poll_max must be a float"),
        ('{"in_progress_statuses": "queued"}', "list of names"),
        ('{"status_path": "/tasks"}', "task_id"),
        ('{"failed_statuses": ["queued"]}', "two groups"),
        ('{"base_url": "gw.local"}', "http"),
        ('{"poll_retries": true}', "poll_retries must be a int"),
    ],
)
def test_bad_profiles_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    file = tmp_path / "provider.json"
    file.write_text(text)
    with pytest.raises(EnvironmentProblem, match=problem):
        load_profile(file, env={})


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("task_id", "t1"),
        ("output.0.content.[type=video].url", "v.mp4"),
        ("output.0.content.1.url", "v.mp4"),
        ("output.0.duration", 5.0),
        ("usage.cost", "0.42"),
        ("error.code", None),
        ("output.3.duration", None),
        ("output.0.content.[type=audio].url", None),
        ("status.deeper", None),
    ],
)
def test_field_paths(path: str, value: object) -> None:
    assert extract(STATUS, path) == value


def test_index_zero_reads_an_object_as_a_one_item_list() -> None:
    assert extract({"output": {"duration": 3}}, "output.0.duration") == 3
    assert extract({"data": STATUS}, "data.task_id") == "t1"


# --- when to poll -------------------------------------------------------------------


def test_polls_stay_within_a_fraction_of_the_task_age_before_anything_is_learnt() -> None:
    planner = PollPlanner(ProviderProfile(poll_initial=2, poll_max=15, poll_fraction=0.1))
    planner.sent("t", at=0.0, seconds=5)
    assert planner.delay("t", now=0.5, previous=None) == 2  # never below poll_initial
    assert planner.delay("t", now=60.0, previous=2) == 3  # backoff x1.5, under 10% of 60 s
    assert planner.delay("t", now=60.0, previous=10) == 6  # 10% of the age caps the backoff
    assert planner.delay("t", now=600.0, previous=14) == 15  # never above poll_max


def test_polls_sleep_until_tasks_of_this_run_finished_then_tighten() -> None:
    planner = PollPlanner(ProviderProfile(poll_initial=0.1, poll_max=15, poll_fraction=0.1))
    planner.sent("a", at=0.0, seconds=5)
    planner.finished("a", last_seen_running=38.0, now=42.0)  # done at ~40 s: 8 s per second
    planner.sent("b", at=100.0, seconds=10)
    planner.sent("c", at=100.0, seconds=5)
    planner.finished("c", last_seen_running=129.0, now=131.0)  # faster: 6 s per second
    assert planner.expected("b") == pytest.approx(60.0)
    assert planner.delay("b", now=101.0, previous=None) == 15  # far off: capped at poll_max
    assert planner.delay("b", now=155.0, previous=15) == pytest.approx(5.0)  # wake at 160 s
    assert planner.delay("b", now=160.0, previous=5) == pytest.approx(1.5)  # due: look soon
    assert planner.delay("b", now=161.5, previous=1.5) == pytest.approx(3.0)  # then doubling
    assert planner.delay("b", now=164.5, previous=3.0) == pytest.approx(6.0)
    assert planner.delay("b", now=170.5, previous=6.0) == pytest.approx(7.05)  # 10% of its age
    planner.finished("unknown", last_seen_running=1.0, now=2.0)  # re-attached: ignored
    assert planner.expected("b") == pytest.approx(60.0)
