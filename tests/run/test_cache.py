"""The clip cache trusts nothing on disk: content hashes, copies, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from storyboard.digest import file_sha256
from storyboard.errors import CacheError
from storyboard.run.cache import CacheEntry, ClipCache, DamagedEntry, copy_clip
from tests.conftest import flip_bytes, make_video

KEY = "ab" + "0" * 62


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("clip") / "clip.mp4")


def test_an_entry_carries_the_hash_of_its_clip(tmp_path: Path, clip: Path) -> None:
    shelf = ClipCache(tmp_path / "cache").for_source("preview-r2")
    entry = shelf.put(KEY, clip, {"task": "dawn"})
    assert entry.meta["sha256"] == file_sha256(clip)
    assert isinstance(shelf.lookup(KEY), CacheEntry)


def test_a_same_size_byte_flip_is_a_damaged_entry_not_a_hit(tmp_path: Path, clip: Path) -> None:
    shelf = ClipCache(tmp_path / "cache").for_source("preview-r2")
    entry = shelf.put(KEY, clip, {"task": "dawn"})
    assert shelf.has(KEY)
    size = entry.clip.stat().st_size
    flip_bytes(entry.clip, 64)
    assert entry.clip.stat().st_size == size
    found = shelf.lookup(KEY)
    assert isinstance(found, DamagedEntry), found
    assert "changed since it was stored" in found.reason
    assert found.meta["task"] == "dawn"  # its remote ids can still fetch it again
    assert shelf.get(KEY) is None and not shelf.has(KEY)


def test_a_put_over_a_damaged_entry_repairs_it(tmp_path: Path, clip: Path) -> None:
    shelf = ClipCache(tmp_path / "cache").for_source("preview-r2")
    entry = shelf.put(KEY, clip, {"task": "dawn"})
    flip_bytes(entry.clip, 64)
    again = shelf.put(KEY, clip, {"task": "dawn"})
    assert file_sha256(again.clip) == file_sha256(clip)
    assert shelf.has(KEY)


def test_the_cache_never_shares_bytes_with_the_clip_it_was_given(
    tmp_path: Path, clip: Path
) -> None:
    """Before, the entry was a hard link to the build's clip: damage to one was
    damage to both. Now each is its own file."""
    build_clip = tmp_path / "build" / "clips" / "dawn.mp4"
    copy_clip(clip, build_clip)
    shelf = ClipCache(tmp_path / "cache").for_source("preview-r2")
    entry = shelf.put(KEY, build_clip, {"task": "dawn"})
    assert not os.path.samefile(entry.clip, build_clip)
    assert os.stat(build_clip).st_nlink == 1 and os.stat(entry.clip).st_nlink == 1
    flip_bytes(build_clip, 64)
    assert shelf.has(KEY)  # the cache's bytes are untouched


def test_entries_without_a_hash_are_not_believed(tmp_path: Path, clip: Path) -> None:
    shelf = ClipCache(tmp_path / "cache").for_source("preview-r2")
    entry = shelf.put(KEY, clip, {"task": "dawn"})
    meta = entry.clip.with_suffix(".json")
    meta.write_text(json.dumps({"key": KEY, "bytes": entry.clip.stat().st_size}))
    found = shelf.lookup(KEY)
    assert isinstance(found, DamagedEntry) and "no content hash" in found.reason


def _put_many(root: str, clip: str, rounds: int, barrier: Any) -> None:
    shelf = ClipCache(Path(root)).for_source("preview-r2")
    for i in range(rounds):
        barrier.wait()
        shelf.put(f"{i:02x}" + "c" * 62, Path(clip), {"task": f"t{i}"})


def test_concurrent_writers_of_one_entry_all_succeed(tmp_path: Path, clip: Path) -> None:
    """Four processes put the same keys at the same moments (a barrier before each),
    as four renders sharing one cache do. With one fixed temporary name per entry
    one writer removed or renamed another's file (FileNotFoundError)."""
    writers, rounds = 4, 25
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(writers, timeout=60)
    procs = [
        ctx.Process(target=_put_many, args=(str(tmp_path / "cache"), str(clip), rounds, barrier))
        for _ in range(writers)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0] * writers
    shelf = ClipCache(tmp_path / "cache").for_source("preview-r2")
    for i in range(rounds):
        assert shelf.has(f"{i:02x}" + "c" * 62)
    leftovers = [p.name for p in (tmp_path / "cache").rglob("*.tmp")]
    assert leftovers == []


def test_an_unwritable_cache_is_a_cache_error(tmp_path: Path, clip: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache should be\n")
    shelf = ClipCache(blocker / "cache").for_source("preview-r2")
    with pytest.raises(CacheError, match="cannot store the clip"):
        shelf.put(KEY, clip, {"task": "dawn"})
