"""The storyboard to compare with: a file, or the storyboard as it was at a git ref.

At a ref, the storyboard alone is not enough: its includes, its images (inlined
in the payloads) and its local videos (hashed into the keys) must be the ones
at that ref too, or a reverted picture would look unchanged. Reading each with
`git show` would mean knowing every path before loading the storyboard that
names them, and loading twice; instead the tree at the ref that holds them all
(the storyboard's folder, or its `asset_root` when that reaches higher: lint
refuses includes and assets outside it) is exported with `git archive` and
unpacked into a temporary folder, where the base compiles as it would have
then. Its size is checked with `git ls-tree` first (`MAX_BASE_BYTES`), and the
archive is unpacked with tarfile's `data` filter (no links out, no devices:
those are left out).

git runs with `cwd` the storyboard's folder (the archive: the repository's top)
and an environment without the provider's key; it never reaches the network
(rev-parse, cat-file, ls-tree and archive are all local).
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from storyboard.errors import EnvironmentProblem, UsageError

DEFAULT_REF = "HEAD"
MAX_BASE_BYTES = 1 << 30  # the tree unpacked for a base: beyond this, give --base FILE
GIT_SECONDS = 120  # a hang guard: local git commands take well under a second


@dataclass(frozen=True)
class Base:
    """What the working copy is compared with. `path`: the base storyboard to
    compile (None: there is none at the ref, so every task is added); `ref` or
    `file` says where it came from, `label` how the reports name it."""

    label: str
    path: Path | None
    ref: str | None = None
    file: str | None = None


def _git_env() -> dict[str, str]:
    """The user's environment without the provider's secrets, and git never asking."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIRIN_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def git(folder: Path, *args: str, stdout: int | None = None) -> subprocess.CompletedProcess[str]:
    """`git ARGS` run in `folder`; raises EnvironmentProblem when git is not there."""
    try:
        return subprocess.run(
            ["git", *args],
            cwd=folder,
            env=_git_env(),
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=GIT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        raise EnvironmentProblem("git is not installed; give --base FILE instead") from None
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"git {args[0]} took over {GIT_SECONDS} s in {folder}") from None


def _first_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = (proc.stderr or "").strip().splitlines()
    return lines[0] if lines else f"git exited with {proc.returncode}"


def _tree_bytes(folder: Path, tree: str) -> int:
    """The bytes of every file in `tree` (`REF:path`), as git records them."""
    proc = git(folder, "ls-tree", "-r", "-l", "-z", tree)
    if proc.returncode != 0:
        raise UsageError(f"cannot list {tree}: {_first_line(proc)}")
    total = 0
    for record in proc.stdout.split("\0"):
        fields = record.split("\t", 1)[0].split()
        if len(fields) == 4 and fields[3].isdigit():  # a submodule's size is "-"
            total += int(fields[3])
    return total


def _unpack(top: Path, tree: str, dest: Path) -> None:
    """`git archive` of `tree` unpacked into `dest` (the archive goes through a file,
    not memory). It runs at the repository's top: in a subfolder, git archive
    limits itself to that folder, which a tree (`REF:path`) has no notion of."""
    archive = dest / ".base.tar"
    with open(archive, "wb") as out:
        proc = git(top, "archive", "--format=tar", tree, stdout=out.fileno())
    if proc.returncode != 0:
        raise UsageError(f"cannot export {tree}: {_first_line(proc)}")
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter=_inside)
    except tarfile.TarError as exc:
        raise UsageError(f"cannot unpack {tree}: {exc}") from None
    archive.unlink()


def _inside(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's `data` filter, leaving out (not failing on) what it refuses: a link
    that leads out of the tree, say to a folder of shared assets. What the base
    needs from there is then missing, and the base is said not to compile."""
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError:
        return None


def _root_of(folder: Path, top: Path, asset_root: Path | None) -> Path:
    """The folder to export: the storyboard's, or its asset root when that is an
    ancestor inside the repository (the repository's top when it reaches above)."""
    if asset_root is None or not folder.is_relative_to(asset_root) or asset_root == folder:
        return folder
    return asset_root if asset_root.is_relative_to(top) else top


@contextmanager
def base_storyboard(
    story: Path, base: str | None, asset_root: Path | None = None
) -> Iterator[Base]:
    """The base for `story`: `base` when it names a file, else the git ref `base`
    (default HEAD), unpacked in a temporary folder for as long as the block runs.
    `asset_root`: the working copy's (the base's assets may sit up to there).
    Raises UsageError for a folder outside git or an unknown ref."""
    if base is not None and Path(base).is_file():
        yield Base(label=base, path=Path(base), file=base)
        return
    ref = base or DEFAULT_REF
    folder = story.resolve().parent
    proc = git(folder, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise UsageError(
            f"{folder} is not in a git repository; give --base FILE to compare with a file"
        )
    top = Path(proc.stdout.strip()).resolve()
    if git(folder, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise UsageError(f"--base {ref}: no such file, and no such git revision in {top}")
    prefix = git(folder, "rev-parse", "--show-prefix").stdout.strip()
    if git(folder, "cat-file", "-e", f"{ref}:{prefix}{story.name}").returncode != 0:
        yield Base(label=ref, path=None, ref=ref)  # new since the ref: everything is added
        return
    root = _root_of(folder, top, asset_root.resolve() if asset_root else None)
    rel = root.relative_to(top).as_posix()
    tree = f"{ref}:{rel if rel != '.' else ''}"  # `REF:` is the repository's top tree
    size = _tree_bytes(folder, tree)
    if size > MAX_BASE_BYTES:
        raise UsageError(
            f"--base {ref}: {root} holds {size / 2**20:.0f} MiB at {ref}, more than the "
            f"{MAX_BASE_BYTES / 2**20:.0f} MiB diff unpacks; give --base FILE instead"
        )
    with tempfile.TemporaryDirectory(prefix="storyboard-diff-") as tmp:
        _unpack(top, tree, Path(tmp))
        inner = Path(tmp) / folder.relative_to(root) / story.name
        yield Base(label=ref, path=inner, ref=ref)
