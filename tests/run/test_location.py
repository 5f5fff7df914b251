"""Where the clip cache is: folders, file:// URLs and s3:// stores, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyboard.errors import CacheError
from storyboard.run.cache import CACHE_ENV, default_cache_dir, open_cache
from storyboard.run.location import StoreURL, parse_location


@pytest.mark.parametrize(
    ("text", "folder"),
    [
        ("clips", Path("clips")),
        ("/srv/clips", Path("/srv/clips")),
        ("file:///srv/clips", Path("/srv/clips")),
        ("file://localhost/srv/my%20clips", Path("/srv/my clips")),
        ("/srv/s3://odd", Path("/srv/s3://odd")),  # a path, whatever it holds
    ],
)
def test_a_path_or_a_file_url_is_a_folder(text: str, folder: Path) -> None:
    assert parse_location(text) == folder


@pytest.mark.parametrize(
    ("text", "bucket", "prefix", "url"),
    [
        ("s3://clips", "clips", "", "s3://clips"),
        ("s3://clips/", "clips", "", "s3://clips"),
        ("s3://clips/team/film//", "clips", "team/film", "s3://clips/team/film"),
        ("S3://clips/team", "clips", "team", "s3://clips/team"),
    ],
)
def test_an_s3_url_is_a_bucket_and_a_prefix(text: str, bucket: str, prefix: str, url: str) -> None:
    found = parse_location(text)
    assert found == StoreURL("s3", bucket, prefix)
    assert isinstance(found, StoreURL) and found.url == url


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "is empty"),
        ("ftp://host/clips", "cannot be at ftp://"),
        ("gs://bucket/clips", "cannot be at gs://"),
        ("s3://", "names no bucket"),
        ("s3:///clips", "names no bucket"),
        ("s3://bucket/../up", "not a clip cache prefix"),
        ("s3://bu cket/x", "not a bucket name"),
        ("file://otherhost/clips", "a folder on this machine"),
    ],
)
def test_a_location_that_is_none_of_those_says_so(text: str, said: str) -> None:
    with pytest.raises(CacheError, match=said):
        parse_location(text)


@pytest.mark.parametrize(
    "text",
    [
        "s3://AKIDEXAMPLE:wJalrXUtnFEMIsecret@bucket/clips",
        "s3://bucket/clips?X-Amz-Signature=wJalrXUtnFEMIsecret",
        "s3://bucket/clips#wJalrXUtnFEMIsecret",
    ],
)
def test_a_url_with_credentials_is_refused_without_repeating_them(text: str) -> None:
    with pytest.raises(CacheError) as caught:
        parse_location(text)
    said = str(caught.value)
    assert "wJalrXUtnFEMIsecret" not in said and "AKIDEXAMPLE" not in said
    assert "AWS_ACCESS_KEY_ID" in said


def test_open_cache_takes_a_folder_and_gives_its_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cache = open_cache("clips")
    assert cache.root == Path("clips") and cache.shared is None
    assert cache.location == str(tmp_path / "clips")  # absolute: another process can use it
    assert open_cache(cache.location).root == tmp_path / "clips"
    assert open_cache(tmp_path / "other").root == tmp_path / "other"  # os.PathLike
    assert open_cache(f"file://{tmp_path}/third").root == tmp_path / "third"


def test_open_cache_without_a_location_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert open_cache().root == tmp_path / "xdg" / "storyboard"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert open_cache().root == tmp_path / "mine" == default_cache_dir()
    monkeypatch.setenv(CACHE_ENV, "s3://clips/team")
    shared = open_cache()
    assert shared.location == "s3://clips/team"
    # The store's mirror is the local folder, never a folder named after the URL.
    assert shared.root == tmp_path / "xdg" / "storyboard" == default_cache_dir()
    assert shared.for_source("preview-r4").location == "s3://clips/team"
    monkeypatch.setenv(CACHE_ENV, "ftp://nowhere")
    with pytest.raises(CacheError, match="ftp://"):
        open_cache()
