"""`storyboard diff` through the real command line, on real git repositories.

An example is copied into a temporary repository and committed, then edited as a
pull request would edit it. The acceptance of issue 13: after the base is
rendered with the preview backend, the tasks `diff` lists as changed or added
are exactly those `plan --json` shows as uncached, at the same cost. Then what
the base is read from (its includes and assets as they were at the ref), and
the bases that are not there: a file, an unknown ref, a folder outside git, a
base that does not compile, a storyboard new since the ref.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, make_png

STORY = Path("films") / "story"  # a subfolder: the storyboard is not at the repository's top


@pytest.fixture
def git_env(env: dict[str, str]) -> dict[str, str]:
    """The user's environment, with git's own configuration out of the way."""
    return {
        **env,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard
        stdin=subprocess.DEVNULL,
        check=False,
    )


def storyboard(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "storyboard", *args], cwd, env)


def git(repo: Path, env: dict[str, str], *args: str) -> None:
    proc = run(["git", *args], repo, env)
    assert proc.returncode == 0, proc.stderr


def committed(example: str, repo: Path, env: dict[str, str]) -> Path:
    """`example` copied into a new repository under films/story/ and committed."""
    shutil.copytree(EXAMPLES / example, repo / STORY, ignore=shutil.ignore_patterns("build"))
    (repo / ".gitignore").write_text("build/\n", encoding="utf-8")
    git(repo, env, "init", "-q")
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", "base")
    return repo / STORY / "storyboard.yaml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def diff_json(repo: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = storyboard(repo, env, "diff", str(STORY / "storyboard.yaml"), "--format", "json", *args)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    return proc.stderr


def test_changed_and_added_are_exactly_what_plan_would_send(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    repo = tmp_path / "repo"
    story = committed("recipe-square", repo, git_env)
    rendered = storyboard(repo, git_env, "render", str(STORY / "storyboard.yaml"))
    assert rendered.returncode == 0, rendered.stderr
    # The pull request: shot 2 of the split scene `method`, and a new last scene.
    edit(story, "tumble into the oil and sizzle", "tumble into the oil and crackle")
    edit(story, "\ncut:\n", '\n  - id: garnish\n    prompt: "Parsley falls on the pan"\n'
                            "    duration: 3\n\ncut:\n")  # fmt: skip
    edit(story, "\naudio:\n", "\n  - garnish\naudio:\n")

    data = diff_json(repo, git_env)
    plan = storyboard(repo, git_env, "plan", str(STORY / "storyboard.yaml"), "--json")
    assert plan.returncode == 0, plan.stderr
    rows = json.loads(plan.stdout)

    status = {t["task"]: t["status"] for t in data["tasks"]}
    sent = {task for task, s in status.items() if s in ("changed", "added")}
    assert sent == {r["task"] for r in rows if not r["cached"]}
    assert sent == {"method.1", "method.2", "plating", "garnish"}
    assert status["intro"] == "unchanged" and status["garnish"] == "added"
    assert data["to_send"]["cost_usd"] == pytest.approx(sum(r["estimated_cost_usd"] for r in rows))
    assert data["to_send"]["cost_usd"] > 0
    why = {t["task"]: [c["label"] for c in t["changes"]] for t in data["tasks"]}
    assert why["method.1"] == ["prompt of shot 2"]
    assert why["method.2"] == ["an upstream task changed: method.1"]
    assert why["plating"] == ["an upstream task changed: method.2"]
    assert data["reused"]["clips"] == 1 and data["counts"]["unchanged"] == 1
    assert data["film"]["seconds"] == pytest.approx(data["film"]["base_seconds"] + 3)


def test_the_base_is_read_with_its_includes_and_assets_at_the_ref(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    """The keeper's picture and the include that names the hero change in the working
    copy: the base must see them as committed, or nothing would look changed."""
    repo = tmp_path / "repo"
    story = committed("lighthouse", repo, git_env)
    make_png(story.parent / "assets" / "keeper.png", (400, 520), colour=(200, 30, 30))
    edit(story.parent / "characters.yaml", "hero: Elias Marr", "hero: Elias Moor")
    edit(story, "climbs the spiral stairs", "descends the spiral stairs")
    proc = storyboard(repo, git_env, "diff", str(STORY / "storyboard.yaml"))
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[1]: line for line in proc.stdout.splitlines()[1:6]}
    assert lines["arrival"].endswith("prompt of shot 2; reference image_2 (keeper)")
    assert lines["return"].endswith(
        "prompt of shot 2; reference image_2 (keeper); an upstream task changed: arrival"
    )
    assert lines["squall"].split()[:3] == ["unchanged", "squall", "to"]  # not rendered yet


def test_bases_that_are_not_there(tmp_path: Path, git_env: dict[str, str]) -> None:
    repo = tmp_path / "repo"
    story = committed("recipe-square", repo, git_env)
    unknown = storyboard(repo, git_env, "diff", str(STORY / "storyboard.yaml"), "--base", "v9")
    assert "--base v9: no such file, and no such git revision" in one_line_error(unknown)

    # a storyboard new since the ref: every task is added
    shutil.copy(story, story.with_name("take2.yaml"))
    proc = storyboard(repo, git_env, "diff", str(STORY / "take2.yaml"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["base"] == {"ref": "HEAD", "file": None, "state": "absent"}
    assert {t["status"] for t in data["tasks"]} == {"added"}

    # a base that does not compile: said, and every task counts as added
    edit(story, "duration: 4\n", "duration: 40\n")
    git(repo, git_env, "commit", "-q", "-am", "too long")
    git(repo, git_env, "checkout", "-q", "HEAD~1", "--", str(STORY / "storyboard.yaml"))
    broken = storyboard(repo, git_env, "diff", str(STORY / "storyboard.yaml"), "--format", "json")
    assert broken.returncode == 0, broken.stderr
    assert "the base HEAD does not compile (storyboard.yaml:" in broken.stderr
    data = json.loads(broken.stdout)
    assert data["base"]["state"] == "broken" and data["counts"]["added"] == len(data["tasks"])

    # the working copy's own errors are printed like every command's, exit 1
    edit(story, "duration: 4\n", "duration: 40\n")
    bad = storyboard(repo, git_env, "diff", str(STORY / "storyboard.yaml"))
    assert bad.returncode == 1 and f"{STORY / 'storyboard.yaml'}:" in bad.stderr


def test_outside_git_a_file_is_the_base(tmp_path: Path, git_env: dict[str, str]) -> None:
    folder = tmp_path / "plain"
    shutil.copytree(EXAMPLES / "recipe-square", folder, ignore=shutil.ignore_patterns("build"))
    proc = storyboard(folder, git_env, "diff", "storyboard.yaml")
    assert "is not in a git repository; give --base FILE" in one_line_error(proc)

    other = folder / "pro.yaml"
    shutil.copy(folder / "storyboard.yaml", other)
    edit(other, "  mode: std\n", "  mode: pro\n")
    proc = storyboard(folder, git_env, "diff", "storyboard.yaml", "--base", "pro.yaml",
                      "--format", "json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["base"] == {"ref": None, "file": "pro.yaml", "state": "compiled"}
    why = {t["task"]: [c["label"] for c in t["changes"]] for t in data["tasks"]}
    assert why["intro"] == ["mode (pro → std)"]
    assert why["method.2"] == ["mode (pro → std)", "an upstream task changed: method.1"]
