"""The clip cache shared through S3 (moto on 127.0.0.1): what one machine stores,
another is served, checked byte for byte; races, damage and a store that is not there.

Each "machine" is a cache with a local folder of its own and the same s3:// URL.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from storyboard.digest import file_sha256
from storyboard.errors import CacheError
from storyboard.run.cache import CacheEntry, ClipCache, DamagedEntry, open_cache
from tests.conftest import S3Server, make_video

SOURCE = "kirin-127.0.0.1_8765"
KEY = "ab" + "1" * 62
ENTRY = f"clips/{SOURCE}/ab/{KEY}.json"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two clips with other bytes: two renders of one request."""
    folder = tmp_path_factory.mktemp("clips")
    return make_video(folder / "one.mp4", seconds=0.5), make_video(folder / "two.mp4", seconds=1)


@pytest.fixture
def url(s3_env: S3Server) -> str:
    return s3_env.url()


def machine(folder: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> ClipCache:
    """The cache at `url` as a machine whose local cache folder is under `folder` sees it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return open_cache(url).for_source(SOURCE)


def stored(server: S3Server, url: str, name: str) -> bytes:
    body = server.client().get_object(Bucket=server.bucket, Key=f"{_prefix(url)}/{name}")["Body"]
    return bytes(body.read())


def store(server: S3Server, url: str, name: str, data: bytes) -> None:
    server.client().put_object(Bucket=server.bucket, Key=f"{_prefix(url)}/{name}", Body=data)


def _prefix(url: str) -> str:
    return url.split("/", 3)[3]


def blob_of(sha: str) -> str:
    return f"blobs/{sha[:2]}/{sha}.mp4"


def test_a_clip_stored_on_one_machine_is_served_on_another(
    tmp_path: Path, url: str, s3_env: S3Server, clips: tuple[Path, Path], monkeypatch: Any
) -> None:
    first = machine(tmp_path / "a", url, monkeypatch)
    put = first.put(KEY, clips[0], {"task": "dawn", "remote": {"task_id": "t-1"}})
    assert put.clip.is_relative_to(tmp_path / "a")  # kept in the folder too
    assert json.loads(stored(s3_env, url, ENTRY))["sha256"] == put.sha256
    assert stored(s3_env, url, blob_of(put.sha256)) == clips[0].read_bytes()

    second = machine(tmp_path / "b", url, monkeypatch)
    found = second.lookup(KEY)
    assert isinstance(found, CacheEntry), found
    assert found.clip.is_relative_to(tmp_path / "b")  # installed in its own folder
    assert file_sha256(found.clip) == put.sha256 and found.meta["task"] == "dawn"
    assert found.meta["remote"] == {"task_id": "t-1"}  # the provider's ids travel along
    assert list((tmp_path / "b").rglob(".*partial*")) == []  # the download is gone

    s3_env.client().delete_object(Bucket=s3_env.bucket, Key=f"{_prefix(url)}/{ENTRY}")
    assert second.has(KEY)  # from its own folder now: the store is not asked again
    assert machine(tmp_path / "c", url, monkeypatch).lookup(KEY) is None


def test_two_writers_of_one_entry_end_with_the_same_clip(
    tmp_path: Path, url: str, s3_env: S3Server, clips: tuple[Path, Path], monkeypatch: Any
) -> None:
    """Two machines rendered the same take (other bytes) and store it at the same
    moment: one entry is created, and both keep that one's clip."""
    writers = [machine(tmp_path / name, url, monkeypatch) for name in ("a", "b")]
    rounds = 4
    keys = [f"{i:02x}" + "2" * 62 for i in range(rounds)]
    barrier = threading.Barrier(2, timeout=60)
    results: dict[int, list[CacheEntry]] = {0: [], 1: []}

    def write(n: int) -> None:
        for key in keys:
            barrier.wait()
            results[n].append(writers[n].put(key, clips[n], {"task": f"writer-{n}"}))

    threads = [threading.Thread(target=write, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(len(results[n]) == rounds for n in (0, 1))
    for i, key in enumerate(keys):
        mine, theirs = results[0][i], results[1][i]
        assert mine.sha256 == theirs.sha256
        entry = json.loads(stored(s3_env, url, f"clips/{SOURCE}/{key[:2]}/{key}.json"))
        assert entry["sha256"] == mine.sha256
        assert file_sha256(mine.clip) == file_sha256(theirs.clip) == mine.sha256
        for writer in writers:  # and what each serves from now on
            found = writer.get(key)
            assert found is not None and found.sha256 == mine.sha256


def test_a_writer_that_comes_second_takes_the_first_writers_clip(
    tmp_path: Path, url: str, clips: tuple[Path, Path], monkeypatch: Any
) -> None:
    first = machine(tmp_path / "a", url, monkeypatch).put(KEY, clips[0], {"task": "first"})
    late = machine(tmp_path / "b", url, monkeypatch)
    second = late.put(KEY, clips[1], {"task": "second"})
    assert second.sha256 == first.sha256 == file_sha256(clips[0])
    assert second.meta["task"] == "first"
    assert second.clip.read_bytes() == clips[0].read_bytes()  # its folder holds the winner's
    kept = late.get(KEY)
    assert kept is not None and kept.sha256 == first.sha256


def test_a_damaged_clip_in_the_store_is_a_damaged_entry_never_a_hit(
    tmp_path: Path, url: str, s3_env: S3Server, clips: tuple[Path, Path], monkeypatch: Any
) -> None:
    put = machine(tmp_path / "a", url, monkeypatch).put(KEY, clips[0], {"task": "dawn"})
    data = bytearray(stored(s3_env, url, blob_of(put.sha256)))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    store(s3_env, url, blob_of(put.sha256), bytes(data))  # same size, other bytes

    reader = machine(tmp_path / "b", url, monkeypatch)
    found = reader.lookup(KEY)
    assert isinstance(found, DamagedEntry), found
    assert "not the ones stored" in found.reason and url in found.reason
    assert found.meta["task"] == "dawn"  # its remote ids can still fetch it again
    assert reader.get(KEY) is None and not reader.has(KEY)
    assert [p.name for p in (tmp_path / "b").rglob("*") if p.is_file()] == []

    # The executor fetches the clip again from the provider and puts it: the blob is
    # written again (its name fixes its bytes), and the next machine is served.
    reader.put(KEY, clips[0], {"task": "dawn"})
    assert stored(s3_env, url, blob_of(put.sha256)) == clips[0].read_bytes()
    again = machine(tmp_path / "c", url, monkeypatch).lookup(KEY)
    assert isinstance(again, CacheEntry) and again.sha256 == put.sha256


@pytest.mark.parametrize("damage", ["partial clip", "missing clip", "unreadable entry"])
def test_a_partial_or_missing_object_is_a_miss(
    damage: str,
    tmp_path: Path,
    url: str,
    s3_env: S3Server,
    clips: tuple[Path, Path],
    monkeypatch: Any,
) -> None:
    put = machine(tmp_path / "a", url, monkeypatch).put(KEY, clips[0], {"task": "dawn"})
    blob = blob_of(put.sha256)
    if damage == "partial clip":
        store(s3_env, url, blob, clips[0].read_bytes()[:1000])
    elif damage == "missing clip":
        s3_env.client().delete_object(Bucket=s3_env.bucket, Key=f"{_prefix(url)}/{blob}")
    else:
        store(s3_env, url, ENTRY, b'{"sha256": "ab')
    found = machine(tmp_path / "b", url, monkeypatch).lookup(KEY)
    assert isinstance(found, DamagedEntry), found
    said = {"partial clip": "not the ones stored", "missing clip": "missing from"}
    assert said.get(damage, "cannot be read") in found.reason
    assert not list((tmp_path / "b").rglob("*.mp4"))

    # Another machine, which never saw the damage, stores the take again: it repairs it.
    repaired = machine(tmp_path / "c", url, monkeypatch).put(KEY, clips[0], {"task": "dawn"})
    assert repaired.sha256 == put.sha256
    served = machine(tmp_path / "d", url, monkeypatch).lookup(KEY)
    assert isinstance(served, CacheEntry) and served.sha256 == put.sha256


def test_takes_lists_the_takes_of_the_store_and_of_the_folder(
    tmp_path: Path, url: str, clips: tuple[Path, Path], monkeypatch: Any
) -> None:
    first = machine(tmp_path / "a", url, monkeypatch)
    first.put(KEY, clips[0], {"task": "dawn"}, take=1)
    first.put(KEY, clips[1], {"task": "dawn"}, take=3)
    other = machine(tmp_path / "b", url, monkeypatch)
    assert other.takes(KEY) == [1, 3]  # nothing downloaded for that
    assert not list((tmp_path / "b").rglob("*.mp4"))
    ClipCache(other.root, SOURCE).put(KEY, clips[1], {"task": "dawn"}, take=4)  # its folder only
    other.put(KEY, clips[0], {"task": "dawn"}, take=2)
    assert other.takes(KEY) == [1, 2, 3, 4]
    assert first.takes(KEY) == [1, 2, 3]
    assert machine(tmp_path / "c", url, monkeypatch).takes("cd" + "3" * 62) == []


def test_a_bucket_that_does_not_exist_is_a_cache_error_not_a_miss(
    tmp_path: Path, s3_env: S3Server, clips: tuple[Path, Path], monkeypatch: Any
) -> None:
    """A typo in the bucket must not read as an empty cache (every clip paid again)."""
    cache = machine(tmp_path / "a", "s3://no-such-bucket/clips", monkeypatch)
    with pytest.raises(CacheError, match="the bucket no-such-bucket does not exist") as caught:
        cache.lookup(KEY)
    assert "s3://no-such-bucket/clips" in str(caught.value)
    with pytest.raises(CacheError, match="cannot read"):
        cache.takes(KEY)
    with pytest.raises(CacheError, match="cannot write the clip cache"):
        cache.put(KEY, clips[0], {"task": "dawn"})
    assert ClipCache(cache.root, SOURCE).has(KEY)  # the folder kept the clip
    assert s3_env.env["AWS_SECRET_ACCESS_KEY"] not in str(caught.value)


def test_a_store_that_does_not_answer_is_a_cache_error(
    tmp_path: Path, url: str, s3_env: S3Server, monkeypatch: Any
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own setting: fail fast here
    cache = machine(tmp_path / "a", url, monkeypatch)
    with pytest.raises(CacheError, match=f"cannot read the clip cache {url}") as caught:
        cache.lookup(KEY)
    assert "Traceback" not in str(caught.value)
    assert s3_env.env["AWS_SECRET_ACCESS_KEY"] not in str(caught.value)
