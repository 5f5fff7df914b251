"""Shared fixtures: small real media made once per session with Pillow and ffmpeg."""

from __future__ import annotations

import logging
import resource
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from storyboard.media import run_ffmpeg

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def make_png(
    path: Path, size: tuple[int, int], colour: tuple[int, int, int] = (40, 90, 160)
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="PNG")
    return path


def make_video(
    path: Path,
    *,
    size: str = "320x240",
    seconds: float = 1,
    fps: int = 24,
    faststart: bool = False,
) -> Path:
    """A test-pattern H.264 MP4; `faststart` puts its index (moov) before its data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate={fps}:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            *(["-movflags", "+faststart"] if faststart else []),
            str(path),
        ]
    )
    return path


def flip_bytes(path: Path, count: int = 4096) -> None:
    """Damage a file in place, keeping its length and inode (what a bad disk or a stray
    write does): `count` bytes from the middle inverted."""
    data = bytearray(path.read_bytes())
    start = len(data) // 2
    for i in range(start, min(len(data), start + count)):
        data[i] ^= 0xFF
    with open(path, "r+b") as handle:
        handle.write(bytes(data))


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small files the rule examples refer to."""
    d = tmp_path_factory.mktemp("media")
    make_png(d / "small.png", (100, 100))
    make_png(d / "big.png", (400, 400))
    make_png(d / "assets" / "keeper.png", (400, 300))
    (d / "notes.txt.png").write_text("not an image\n")
    make_video(d / "short.mp4")
    make_video(d / "clip.mp4", size="1280x720", seconds=3)
    return d


# --- an S3 store on this machine ----------------------------------------------------
@dataclass(frozen=True)
class S3Server:
    """moto's S3 server on 127.0.0.1 with one bucket, and what a client needs to use it."""

    endpoint: str
    bucket: str
    env: dict[str, str]  # AWS_* of botocore's usual chain; no file of the user's is read

    def url(self, prefix: str | None = None) -> str:
        """An `s3://` URL under a prefix of its own (fresh for each call without one)."""
        return f"s3://{self.bucket}/{prefix or uuid.uuid4().hex}"

    def client(self) -> Any:
        """A boto3 S3 client of this server (for a test to damage what is stored)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_DEFAULT_REGION"],
        )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3-compatible store for the whole session (moto in server mode, a free port).

    Tests put `env` in their processes' environment (`monkeypatch`, or a child's
    `env=`) and use a prefix of their own (`url()`), so they never see each other's
    objects."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        aws = tmp_path_factory.mktemp("aws")
        env = {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "AKIDSTORYBOARDTEST",
            "AWS_SECRET_ACCESS_KEY": "storyboard-test-secret-8d41",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(aws / "config"),  # none: the user's profiles stay out
            "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        found = S3Server(env["AWS_ENDPOINT_URL"], "storyboard-clips", env)
        found.client().create_bucket(Bucket=found.bucket)
        yield found
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """This process speaks to `s3_server` (and to no profile or other endpoint)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "STORYBOARD_CACHE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server


# --- nothing leaves the machine ---------------------------------------------------
# A safety net under every in-process test: a connection to any address outside
# 127.0.0.0/8 and ::1 is refused before a packet is sent (URL checks that must
# refuse a redirect to 169.254.169.254 are tested with this net below them).
def _loopback_only(event: str, args: tuple[object, ...]) -> None:
    if event != "socket.connect":
        return
    address = args[1]
    if not isinstance(address, tuple):  # AF_UNIX and friends stay on the machine
        return
    host = str(address[0])
    if host.startswith("127.") or host in ("::1", "localhost") or host.startswith("::ffff:127."):
        return
    raise PermissionError(f"test tried to connect outside loopback: {address!r}")


sys.addaudithook(_loopback_only)


# --- hostile input: a storyboard must not take the machine ---------------------------
BOUNDED_MEMORY = 2**30  # 1 GiB of address space for a lint or compile of a hostile file
BOUNDED_CPU_SECONDS = 10  # CPU time, not wall time: a busy machine does not make it fail


def _bound_child() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (BOUNDED_MEMORY, BOUNDED_MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (BOUNDED_CPU_SECONDS, BOUNDED_CPU_SECONDS))


def run_bounded(
    *args: str, cwd: Path | None = None, wall_seconds: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m storyboard ARGS` under 1 GiB and 10 s of CPU (the issue's bounds).

    Going past either kills the child (SIGKILL/SIGXCPU: a negative return code), so
    a test asserting `returncode == 1` fails on a bomb; the wall bound only catches
    a hang (a FIFO), it is never what a passing run is measured by."""
    return subprocess.run(
        [sys.executable, "-m", "storyboard", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=wall_seconds,
        preexec_fn=_bound_child,
    )
