"""The clip cache at an s3:// URL, through the real command line (moto on 127.0.0.1).

A CI runner starts with an empty disk: pointed at the team's shared cache, it
renders a storyboard someone already rendered without one request to the
provider, and cuts the same film. A location that is not a cache, or a store
whose packages are missing, is one line and exit 2.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from storyboard.mock.server import MockHandle
from tests.conftest import EXAMPLES, S3Server
from tests.e2e.conftest import user_env
from tests.e2e.test_render import copy_example, run_record, storyboard


def machine(root: Path, s3: S3Server, cache: str | None = None) -> dict[str, str]:
    """A user's shell on a machine of its own (its own cache folders under `root`) that
    can reach the store; `cache`: `$STORYBOARD_CACHE`, else the local folder."""
    root.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in user_env(root).items() if not k.startswith("AWS_")}
    env.update(s3.env, XDG_CACHE_HOME=str(root / "xdg"))
    if cache is not None:
        env["STORYBOARD_CACHE"] = cache
    return env


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_fresh_machine_renders_from_the_shared_cache_without_a_request(
    tmp_path: Path, s3_server: S3Server, mock: MockHandle
) -> None:
    url = s3_server.url()
    kirin = ["--backend", "kirin", "--yes", "--base-url", mock.base_url]

    # A colleague renders, with the shared cache given as --cache.
    story = copy_example("recipe-square", tmp_path / "laptop" / "recipe")
    laptop = machine(tmp_path / "laptop", s3_server)
    first = storyboard("render", str(story), *kirin, "--cache", url, env=laptop)
    assert first.returncode == 0, first.stderr
    assert mock.stats()["create"] == 4
    made = run_record(story.parent / "build" / story.stem)
    before = mock.stats()

    # CI: another folder, empty cache folders, the same URL in $STORYBOARD_CACHE.
    copy = copy_example("recipe-square", tmp_path / "ci" / "checkout")
    ci = machine(tmp_path / "ci", s3_server, cache=url)
    again = storyboard("render", str(copy), *kirin, env=ci)
    assert again.returncode == 0, again.stderr
    after = mock.stats()
    assert after["create"] == before["create"]
    assert after["total"] == before["total"]  # not one request: no find, no download
    assert "estimated cost: $0.00" in again.stderr  # the spend gate saw the shared clips
    assert "0 rendered, 4 cached" in again.stdout

    build = copy.parent / "build" / copy.stem
    record = run_record(build)
    assert record["totals"]["cached"] == 4 and record["totals"]["billed_usd"] == 0
    film = record["film"]  # probed and decoded by render itself before it said done
    assert film["duration"] == film["expected"] and not film["reused"]
    assert sha256(Path(film["path"])) == sha256(Path(made["film"]["path"]))  # the same film
    mirrored = sorted((tmp_path / "ci" / "xdg" / "storyboard" / "clips").rglob("*.mp4"))
    assert len(mirrored) == 4  # the CI's own folder now holds them
    assert not (tmp_path / "ci" / "cache").exists()  # the URL replaced the local folder

    # `plan` on a third machine sees them cached, through the same URL.
    rows = storyboard(
        "plan", str(copy), "--json", "--backend", "kirin", "--base-url", mock.base_url,
        "--cache", url, env=machine(tmp_path / "third", s3_server),
    )  # fmt: skip
    assert rows.returncode == 0, rows.stderr
    assert all(row["cached"] for row in json.loads(rows.stdout))
    assert mock.stats()["total"] == before["total"]


@pytest.mark.parametrize(
    ("given", "where", "said"),
    [
        ("--cache", "ftp://host/clips", "the clip cache cannot be at ftp://"),
        ("STORYBOARD_CACHE", "s3://", "names no bucket"),
        ("--cache-dir", "s3://AKID:hunter2secret@bucket/clips", "without a user"),
    ],
)
def test_a_location_that_is_not_a_cache_is_one_line_and_exit_2(
    given: str, where: str, said: str, tmp_path: Path
) -> None:
    """Each way of naming the cache (--cache-dir is --cache's older name) is read alike."""
    env = user_env(tmp_path)
    args = ["plan", str(EXAMPLES / "recipe-square" / "storyboard.yaml")]
    if given == "STORYBOARD_CACHE":
        env["STORYBOARD_CACHE"] = where
    else:
        args += [given, where]
    result = storyboard(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr
    assert "hunter2secret" not in result.stderr + result.stdout


def test_a_store_without_its_packages_says_how_to_install_them(tmp_path: Path) -> None:
    story = copy_example("recipe-square", tmp_path / "recipe")
    hidden = "import sys; sys.modules['s3fs'] = None; from storyboard.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", hidden, "render", str(story), "--cache", "s3://bucket/clips"],
        env=user_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "pip install 'storyboard[s3]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (story.parent / "build").exists()  # refused before anything was made
