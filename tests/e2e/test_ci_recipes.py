"""The CI recipes of docs/ci.md as a user runs them.

The pre-commit hook goes through the real `pre-commit` tool: a repository of
the user's own points at this tree's hook by `repo:` and `rev:`, pre-commit
clones it, builds its virtualenv and `pip install`s it, and `git commit` runs
it. All of that happens offline (see `_offline`): nothing here may reach a
package index. The GitHub Actions workflow is checked against GitHub's own
schema (check-jsonschema ships it), and each of its storyboard steps is run
here, as written, on a storyboard of a user's repository, so that a flag the
CLI does not have fails this test and not a user's first pull request.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from storyboard.run.cache import default_cache_dir

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "ci" / "storyboard.yml"
DOC = ROOT / "docs" / "ci.md"
HANG = 240  # seconds: a hang guard only; an offline hook install takes about 10 s
GIT_USER = {
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,  # the user's own git config (signing, hooks) stays out
    "GIT_CONFIG_NOSYSTEM": "1",
}
SELECTION = "version: 1\ntasks: {}\n"
# One 3 s scene: the workflow's render step at the least cost of test time.
ONE_SCENE = """\
storyboard: 1
title: "A first film"
scenes:
  - id: opening
    prompt: "A quiet street at dawn, mist over the rooftops"
    duration: 3
"""  # a valid selection file; not a storyboard
EXPR = re.compile(r"\$\{\{\s*env\.(\w+)\s*\}\}")


def _run(
    args: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )


def _user_env(tmp_path: Path) -> dict[str, str]:
    """A user's shell: no provider key, no PYTHONPATH into this tree, a private cache."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KIRIN_", "STORYBOARD_", "PIP_", "VIRTUALENV_", "GIT_"))
        and k not in ("PYTHONPATH", "PRE_COMMIT_HOME")
    }
    return {**base, **GIT_USER, "STORYBOARD_CACHE": str(tmp_path / "clip-cache")}


def _offline(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """What lets pre-commit build the hook's environment with no network.

    pre-commit runs `python -m virtualenv ENV` (seeded from virtualenv's own
    wheels) and then `pip install .` in its clone of the hook. The virtualenv
    sees the site-packages of the Python running the tests, which already holds
    every dependency (`pip install -e '.[test,dev]'`), so pip finds them all
    satisfied; no index (`PIP_NO_INDEX`), and no isolated build environment
    (that would fetch setuptools): the build uses the setuptools seeded into
    the virtualenv. `PIP_NO_BUILD_ISOLATION=0` is pip's spelling of
    `--no-build-isolation` in the environment. Caches and app data stay in tmp.
    """
    return {
        **env,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_CACHE_DIR": str(tmp_path / "pip-cache"),
        "VIRTUALENV_SYSTEM_SITE_PACKAGES": "1",
        "VIRTUALENV_NO_PERIODIC_UPDATE": "1",  # else it asks the index for newer seed wheels
        "VIRTUALENV_OVERRIDE_APP_DATA": str(tmp_path / "virtualenv-data"),
    }


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    result = _run(["git", *args], cwd, env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _hook_repo(tmp_path: Path, env: dict[str, str]) -> tuple[Path, str]:
    """This tree as a hook repository at a commit: every file git would commit
    (tracked or new, not ignored) as it is now, so that the hook under test is
    the working tree's, committed or not. Symlinks stay symlinks (the package's
    schemas/ is one)."""
    listing = _run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT, env
    )
    if listing.returncode != 0:
        reason = f"the hook repository is made from this tree, not a git checkout: {listing.stderr}"
        pytest.skip(reason.strip())
    repo = tmp_path / "storyboard-hook"
    for name in filter(None, listing.stdout.split("\0")):
        source, target = ROOT / name, repo / name
        if not source.is_symlink() and not source.is_file():
            continue  # deleted in the working tree, not yet from the index
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    _git(repo, env, "init", "-q")
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-q", "-m", "storyboard as it is in the tree under test")
    return repo, _git(repo, env, "rev-parse", "HEAD")


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)


def _pre_commit_config(repo: Path, rev: str, *, every_commit: bool = False) -> str:
    """The docs' snippet, pointed at the local hook repository (JSON is YAML);
    `every_commit`: with the docs' variant that lints every storyboard."""
    blocks = _yaml_blocks(DOC.read_text("utf-8"))
    config: Any = YAML(typ="safe").load(next(b for b in blocks if "repos:" in b))
    config["repos"][0].update(repo=str(repo), rev=rev)
    if every_commit:
        variant = YAML(typ="safe").load(next(b for b in blocks if "always_run" in b))
        config["repos"][0]["hooks"] = variant
    return json.dumps(config, indent=2) + "\n"


def _commit(repo: Path, env: dict[str, str], *extra: str) -> tuple[int, str]:
    """`git add -A; git commit`, as the user types it: the hook runs inside."""
    _git(repo, env, "add", "-A")
    done = _run(["git", "commit", "-q", "-m", "a change", *extra], repo, env)
    said = done.stdout + done.stderr
    assert "Traceback" not in said, said
    return done.returncode, said


def _starter(folder: Path, env: dict[str, str]) -> Path:
    """`storyboard init FOLDER/`: the storyboard a newcomer's repository starts with."""
    result = _run([sys.executable, "-m", "storyboard", "init", f"{folder}/"], ROOT, _ours(env))
    assert result.returncode == 0, result.stderr
    return folder / "storyboard.yaml"


def _ours(env: dict[str, str]) -> dict[str, str]:
    """The CLI of this tree (not whichever storyboard is installed)."""
    return {**env, "PYTHONPATH": str(ROOT)}


def _break(story: Path) -> tuple[str, str]:
    """Make the first scene last 50 s (SB211); return the text and where lint must point."""
    lines = story.read_text("utf-8").splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.strip() == "duration: 5")
    lines[index] = lines[index].replace("5", "50")
    return "".join(lines), f"{index + 1}:{lines[index].index('50') + 1}: SB211"


def test_pre_commit_blocks_a_commit_whose_storyboard_does_not_lint(tmp_path: Path) -> None:
    pytest.importorskip(
        "pre_commit", reason="pre-commit is in the test extra: pip install -e '.[test]'"
    )
    env = _offline(_user_env(tmp_path), tmp_path)
    hook, rev = _hook_repo(tmp_path, env)
    user = tmp_path / "films-repo"
    story = _starter(user / "films", env)
    good = story.read_text("utf-8")
    bad, place = _break(story)
    story.write_text(bad, encoding="utf-8")
    (user / "promo.storyboard.yml").write_text(bad, encoding="utf-8")
    # Neither is a storyboard; linted as one, each would fail every commit below.
    (user / "films" / "storyboard.takes.yaml").write_text(SELECTION, encoding="utf-8")
    (user / "compose.yaml").write_text("services: {}\n", encoding="utf-8")
    (user / ".pre-commit-config.yaml").write_text(_pre_commit_config(hook, rev), encoding="utf-8")
    _git(user, env, "init", "-q")
    installed = _run([sys.executable, "-m", "pre_commit", "install"], user, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    code, said = _commit(user, env)
    assert code != 0, said
    assert f"films/storyboard.yaml:{place}" in said, said
    assert f"promo.storyboard.yml:{place}" in said, said
    assert "takes.yaml" not in said and "compose.yaml" not in said, said
    assert _run(["git", "rev-parse", "HEAD"], user, env).returncode != 0  # nothing committed

    story.write_text(good, encoding="utf-8")
    (user / "promo.storyboard.yml").write_text(good, encoding="utf-8")
    code, said = _commit(user, env)
    assert code == 0, said
    assert re.search(r"storyboard lint\.+Passed", said), said
    # The hook ran the package pip built from the clone at `rev`, in pre-commit's own env.
    home = Path(env["PRE_COMMIT_HOME"])
    assert list(home.glob("repo*/py_env-*/lib/python*/site-packages/storyboard/cli/__init__.py"))
    committed = _git(user, env, "ls-tree", "-r", "--name-only", "HEAD").splitlines()
    assert "films/storyboard.yaml" in committed and "films/storyboard.takes.yaml" in committed

    # What the docs say of the variant: a storyboard broken past the hook
    # (--no-verify) is not linted by a commit that does not touch it, but is
    # by every commit once the hook lints every storyboard.
    story.write_text(bad, encoding="utf-8")
    assert _commit(user, env, "--no-verify")[0] == 0
    (user / "notes.md").write_text("a note\n", encoding="utf-8")
    assert _commit(user, env)[0] == 0
    config = _pre_commit_config(hook, rev, every_commit=True)
    (user / ".pre-commit-config.yaml").write_text(config, encoding="utf-8")
    code, said = _commit(user, env)
    assert code != 0 and f"films/storyboard.yaml:{place}" in said, said
    assert "takes.yaml" not in said and "compose.yaml" not in said, said


def _workflow() -> Any:
    return YAML(typ="safe").load(WORKFLOW.read_text("utf-8"))


def _check_workflow(path: Path) -> subprocess.CompletedProcess[str]:
    """GitHub's workflow schema, vendored in check-jsonschema (read offline)."""
    args = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    return _run([*args, str(path)], ROOT, dict(os.environ))


def test_the_workflow_is_the_docs_one_and_valid_for_github(tmp_path: Path) -> None:
    text = WORKFLOW.read_text("utf-8")
    assert f"```yaml\n{text}```" in DOC.read_text("utf-8"), "docs/ci.md must show the file in full"
    checked = _check_workflow(WORKFLOW)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The schema refuses a broken workflow, so the check above can fail.
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace("runs-on:", "runs_on:"), encoding="utf-8")
    assert _check_workflow(broken).returncode != 0

    workflow = _workflow()
    assert set(workflow["on"]) == {"push", "pull_request"}
    steps = workflow["jobs"]["storyboard"]["steps"]
    uses = {step.get("uses", "").split("@")[0]: step for step in steps}
    assert uses["actions/checkout"]["with"]["fetch-depth"] == 0
    assert uses["github/codeql-action/upload-sarif"]["if"] == "always()"
    assert uses["github/codeql-action/upload-sarif"]["with"]["sarif_file"] == "lint.sarif"
    assert "actions/upload-artifact" in uses and "actions/github-script" in uses


def test_the_cache_step_keeps_the_folder_storyboard_caches_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STORYBOARD_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    cache = next(
        s for s in _workflow()["jobs"]["storyboard"]["steps"] if "cache" in s.get("uses", "")
    )
    assert Path(cache["with"]["path"]).expanduser() == default_cache_dir()


def _shim(tmp_path: Path) -> Path:
    """A `storyboard` on PATH that is this tree's CLI, as `pip install` would give."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "storyboard"
    script.write_text(
        f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m storyboard "$@"\n',
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def _step_env(tmp_path: Path, step: dict[str, Any], **github: str) -> dict[str, str]:
    """The job's environment for one step: the workflow's env, the step's (its
    `${{ github.X }}` given here), and this tree's CLI first on PATH."""
    env = _user_env(tmp_path)
    bin_dir = tmp_path / "bin"
    env["PATH"] = f"{bin_dir if bin_dir.exists() else _shim(tmp_path)}{os.pathsep}{env['PATH']}"
    env.update({k: str(v) for k, v in _workflow()["env"].items()})
    for name, value in step.get("env", {}).items():
        expression = re.fullmatch(r"\$\{\{\s*github\.(\w+)\s*\}\}", str(value))
        env[name] = github[expression.group(1)] if expression else str(value)
    return env


def _run_step(step: dict[str, Any], cwd: Path, env: dict[str, str]) -> None:
    """The step's script as GitHub's ubuntu runner runs it: `bash -e {0}`."""
    done = _run(["bash", "-e", "-c", step["run"]], cwd, env)
    said = done.stdout + done.stderr
    assert done.returncode == 0, f"{step['name']}: {said}"
    assert "Traceback" not in said, said


def test_the_workflows_lint_and_render_steps_run_on_a_users_repository(tmp_path: Path) -> None:
    repo = tmp_path / "films-repo"
    repo.mkdir()
    (repo / "storyboard.yaml").write_text(ONE_SCENE, encoding="utf-8")
    steps = _workflow()["jobs"]["storyboard"]["steps"]
    ours = [s for s in steps if re.search(r"\bstoryboard (lint|render)\b", s.get("run", ""))]
    assert [s["run"].split()[1] for s in ours] == ["lint", "lint", "render"]
    for step in ours:
        _run_step(step, repo, _step_env(tmp_path, step))

    sarif = json.loads((repo / "lint.sarif").read_text("utf-8"))
    assert sarif["version"] == "2.1.0" and sarif["runs"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    env = _workflow()["env"]
    found: list[str] = []
    for pattern in upload["with"]["path"].splitlines():
        matches = glob.glob(EXPR.sub(lambda m: str(env[m.group(1)]), pattern), root_dir=repo)
        assert matches, f"the artifact path {pattern} matches nothing after render"
        found.extend(matches)
    assert sorted(found) == [
        "build/storyboard/storyboard.contact.png",
        "build/storyboard/storyboard.mp4",
    ]


def test_the_workflows_lint_step_annotates_a_problem_and_fails_the_job(tmp_path: Path) -> None:
    repo = tmp_path / "films-repo"
    (repo / "films").mkdir(parents=True)
    (repo / "films" / "storyboard.yaml").write_text(
        ONE_SCENE.replace("duration: 3", "duration: 30"), encoding="utf-8"
    )
    step = next(
        s for s in _workflow()["jobs"]["storyboard"]["steps"] if "github" in s.get("run", "")
    )
    done = _run(["bash", "-e", "-c", step["run"]], repo, _step_env(tmp_path, step))
    assert done.returncode == 1, done.stderr
    assert "::error file=films/storyboard.yaml,line=6,col=15,title=SB211" in done.stdout


def test_the_workflows_diff_step_prices_a_pull_request(tmp_path: Path) -> None:
    env = _user_env(tmp_path)
    asked = _run([sys.executable, "-m", "storyboard", "diff", "--help"], ROOT, _ours(env))
    if asked.returncode != 0:
        pytest.skip("`storyboard diff` is not in this tree (another change adds it): step not run")
    repo = tmp_path / "films-repo"
    repo.mkdir()
    story = repo / "storyboard.yaml"
    story.write_text(ONE_SCENE, encoding="utf-8")
    _git(repo, env, "init", "-q")
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-q", "-m", "base")
    _git(repo, env, "update-ref", "refs/remotes/origin/main", "HEAD")  # as checkout fetches it
    story.write_text(story.read_text("utf-8").replace("quiet street", "busy street"), "utf-8")
    step = next(
        s
        for s in _workflow()["jobs"]["storyboard"]["steps"]
        if "storyboard diff" in s.get("run", "")
    )
    _run_step(step, repo, _step_env(tmp_path, step, base_ref="main"))
    assert "opening" in (repo / "diff.md").read_text("utf-8")  # the task the edit changed


def test_the_docs_kirin_dry_run_has_only_flags_the_cli_has(tmp_path: Path) -> None:
    """Run for real, the dry run needs the mock on the docs' fixed port 8765, which
    another test run on this machine may hold; kirin against the mock is rendered
    end to end in test_render.py. Here `--help` after the flags: click refuses an
    unknown flag before it prints the help."""
    block = next(b for b in _yaml_blocks(DOC.read_text("utf-8")) if "mock-server" in b)
    steps = YAML(typ="safe").load(block)
    commands = [
        line.strip()
        for step in steps
        for line in step["run"].splitlines()
        if line.strip().startswith("storyboard ")
    ]
    assert [c.split()[1] for c in commands] == ["mock-server", "render"]
    for command in commands:
        args = command.split(">")[0].replace("&", "").split()[1:]
        result = _run(
            [sys.executable, "-m", "storyboard", *args, "--help"],
            tmp_path,
            _ours(_user_env(tmp_path)),
        )
        assert result.returncode == 0, f"{command}: {result.stderr}"
