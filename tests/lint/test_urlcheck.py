"""URL checks that cannot be turned against the machine: real HTTP servers on
127.0.0.1 in threads, a storyboard's worst (redirects to cloud metadata, a 3 GB
body that ignores Range, a server that drips), and the CLI end to end.

Nothing here connects outside loopback; conftest's audit hook would turn such
a connection into a PermissionError, so the refusals below assert our message.
"""

from __future__ import annotations

import contextlib
import http.server
import ipaddress
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from storyboard.bounds import MAX_REDIRECTS, URL_SNIFF_BYTES
from storyboard.errors import URLCheckError
from storyboard.lint.engine import lint_file
from storyboard.lint.urlcheck import check_url, refusal
from tests.conftest import run_bounded

HUGE = 3 * 10**9  # what the lazy server claims and would send: 3 GB


def png_bytes() -> bytes:
    out = BytesIO()
    Image.new("RGB", (400, 400), (40, 90, 160)).save(out, format="PNG")
    return out.getvalue()


@dataclass
class Site:
    """A server on 127.0.0.1 and what it saw."""

    base: str
    connections: int = 0
    paths: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    huge_sent: int = 0


class Handler(http.server.BaseHTTPRequestHandler):
    site: Site
    png: bytes

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.site.paths.append(self.path)
        self.site.hosts.append(self.headers.get("Host", ""))
        parts = self.path.strip("/").split("/")
        if self.path == "/ok.png":
            self._send(200, self.png, "image/png")
        elif parts[0] == "chain":  # /chain/N: N redirects, then the PNG
            left = int(parts[1])
            self._redirect(f"/chain/{left - 1}" if left > 1 else "/ok.png")
        elif self.path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif self.path == "/to-file":
            self._redirect("file:///etc/passwd")
        elif self.path == "/huge.png":
            self._huge()
        elif self.path == "/drip.png":
            self._drip_body()
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _huge(self) -> None:
        """Ignore Range; send 3 GB, made lazily, until the client hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(HUGE))
        self.end_headers()
        chunk = bytes(2**16)
        try:
            self.wfile.write(self.png[:64])
            self.site.huge_sent += 64
            while self.site.huge_sent < HUGE:
                self.wfile.write(chunk)
                self.site.huge_sent += len(chunk)
        except OSError:
            pass

    def _drip_body(self) -> None:
        """Headers at once, then one byte a second (a per-read timeout never fires)."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "60")
        self.end_headers()
        try:
            for byte in self.png[:60]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(1)
        except OSError:
            pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    site: Site

    def verify_request(self, request: object, client_address: object) -> bool:
        self.site.connections += 1  # every accepted connection, before any request is read
        return True


@contextlib.contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[Site]:
    httpd = Server(("127.0.0.1", 0), Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    state = Site(f"{'https' if tls else 'http'}://127.0.0.1:{httpd.server_address[1]}")
    httpd.site = state
    handler = type("SiteHandler", (Handler,), {"site": state, "png": png_bytes()})
    httpd.RequestHandlerClass = handler
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    with serving() as state:
        yield state


def refused(url: str, **kwargs: object) -> str:
    with pytest.raises(URLCheckError) as caught:
        check_url(url, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


# --- the address table ---------------------------------------------------------
# address, refused without the flag, refused with it, what the message says
TABLE = [
    ("93.184.216.34", False, False, ""),
    ("2606:4700::1111", False, False, ""),
    ("::ffff:93.184.216.34", False, False, ""),
    ("127.0.0.1", True, False, "loopback"),
    ("127.8.9.10", True, False, "loopback"),
    ("::1", True, False, "loopback"),
    ("::ffff:127.0.0.1", True, False, "loopback"),
    ("10.0.0.5", True, False, "private"),
    ("172.16.0.1", True, False, "private"),
    ("172.31.255.255", True, False, "private"),
    ("192.168.1.1", True, False, "private"),
    ("100.64.0.1", True, False, "private"),
    ("fc00::1", True, False, "private"),
    ("fd12:3456::1", True, False, "private"),
    ("::ffff:10.0.0.5", True, False, "private"),
    ("64:ff9b::a00:5", True, False, "private"),
    ("169.254.169.254", True, True, "link-local"),
    ("169.254.0.1", True, True, "link-local"),
    ("fe80::1", True, True, "link-local"),
    ("::ffff:169.254.169.254", True, True, "link-local"),
    ("224.0.0.1", True, True, "multicast"),
    ("ff02::1", True, True, "multicast"),
    ("0.0.0.0", True, True, "unspecified"),
    ("::", True, True, "unspecified"),
    ("240.0.0.1", True, True, "reserved"),
    ("255.255.255.255", True, True, "reserved"),
]


@pytest.mark.parametrize(("address", "default", "flagged", "kind"), TABLE)
def test_addresses_are_classified(address: str, default: bool, flagged: bool, kind: str) -> None:
    ip = ipaddress.ip_address(address)
    without, with_flag = refusal(ip), refusal(ip, allow_private=True)
    assert (without is not None, with_flag is not None) == (default, flagged), (without, with_flag)
    if kind:
        assert without is not None and f" {kind} address" in without
    if default and not flagged:
        assert without is not None and "--allow-private-urls" in without


# --- what passes ----------------------------------------------------------------
def test_png_on_loopback_passes_with_the_flag(site: Site) -> None:
    answer = check_url(f"{site.base}/ok.png", allow_private=True)
    assert answer.status == 200 and answer.first_bytes.startswith(b"\x89PNG\r\n\x1a\n")
    assert answer.total_bytes == len(png_bytes())


def test_a_name_is_resolved_and_the_checked_address_is_what_we_connect_to(site: Site) -> None:
    port = site.base.rpartition(":")[2]
    answer = check_url(f"http://localhost:{port}/ok.png", allow_private=True)
    assert answer.status == 200
    # the connection went to an IP; the name travelled only in the Host header
    assert site.hosts == [f"localhost:{port}"]
    assert "a loopback address" in refused(f"http://localhost:{port}/ok.png")


def test_loopback_is_refused_without_the_flag_before_any_connection(site: Site) -> None:
    message = refused(f"{site.base}/ok.png")
    assert message == (
        "refused: 127.0.0.1 is a loopback address (use --allow-private-urls for intranet assets)"
    )
    assert site.connections == 0 and site.paths == []


# --- redirects --------------------------------------------------------------------
def test_redirects_are_followed_up_to_the_limit(site: Site) -> None:
    answer = check_url(f"{site.base}/chain/{MAX_REDIRECTS}", allow_private=True)
    assert answer.status == 200 and answer.url == f"{site.base}/ok.png"


def test_a_longer_redirect_chain_is_refused(site: Site) -> None:
    message = refused(f"{site.base}/chain/{MAX_REDIRECTS + 1}", allow_private=True)
    assert message == f"redirected more than {MAX_REDIRECTS} times"
    assert len(site.paths) == MAX_REDIRECTS + 1  # the last hop's target was never asked


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/to-metadata", "refused: 169.254.169.254 is a link-local address"),
        ("/to-file", "refused: file is not http or https"),
    ],
)
def test_a_redirect_is_checked_again(site: Site, path: str, expected: str) -> None:
    # the flag admits the loopback start; it never admits link-local nor other schemes
    message = refused(f"{site.base}{path}", allow_private=True)
    assert message.startswith(expected), message
    assert site.paths == [path]


# --- bytes and time ----------------------------------------------------------------
def test_a_server_ignoring_range_costs_one_sniff(site: Site) -> None:
    tracemalloc.start()
    try:
        answer = check_url(f"{site.base}/huge.png", allow_private=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(answer.first_bytes) == URL_SNIFF_BYTES
    assert answer.total_bytes == HUGE
    assert peak < 16 * 2**20, peak
    assert site.huge_sent < HUGE


def test_a_dripping_server_ends_at_the_deadline(site: Site) -> None:
    assert refused(f"{site.base}/drip.png", allow_private=True, deadline=2) == (
        "no answer within 2 s"
    )


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x.png", "file:///etc/passwd", "gopher://x/"])
def test_other_schemes_are_refused(url: str) -> None:
    assert refused(url, allow_private=True).startswith("refused: ")
    assert "is not http or https" in refused(url, allow_private=True)


# --- lint and the CLI ----------------------------------------------------------------
def story(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "storyboard.yaml"
    path.write_text(
        "storyboard: 1\nassets:\n"
        f"  keeper: {{image: {url}}}\n"
        "scenes:\n  - {id: a, prompt: x, duration: 5}\n"
    )
    return path


def lint_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storyboard", "lint", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_lint_reports_a_refusal_at_the_urls_line(tmp_path: Path, site: Site) -> None:
    url = f"{site.base}/to-metadata"
    problems = lint_file(story(tmp_path, url), check_urls=True, allow_private_urls=True).problems
    assert [(p.line, p.column, p.code) for p in problems] == [(3, 19, "SB507")]
    assert problems[0].message.startswith(f"{url}: refused: 169.254.169.254 is a link-local")


def test_cli_refuses_loopback_and_allows_it_with_the_flag(tmp_path: Path, site: Site) -> None:
    path = story(tmp_path, f"{site.base}/ok.png")
    refused_run = lint_cli("--check-urls", str(path), cwd=tmp_path)
    assert refused_run.returncode == 1, refused_run.stderr
    assert f"{path}:3:19: SB507" in refused_run.stdout
    assert "127.0.0.1 is a loopback address (use --allow-private-urls" in refused_run.stdout
    assert site.connections == 0
    allowed = lint_cli("--check-urls", "--allow-private-urls", str(path), cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert site.paths == ["/ok.png"]


def test_cli_survives_a_3_gb_body_in_1_gib(tmp_path: Path, site: Site) -> None:
    path = story(tmp_path, f"{site.base}/huge.png")
    run = run_bounded("lint", "--check-urls", "--allow-private-urls", str(path), cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert f"{path}:3:19: SB507" in run.stdout
    assert f"is {HUGE} bytes; at most" in run.stdout


# --- https: connected by IP, verified by name ----------------------------------------
def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test CA and a certificate for the name localhost only (no IP in it)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test CA")
    d = tmp_path_factory.mktemp("tls")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=storyboard test CA", cwd=d)  # fmt: skip
    openssl("req", *key, "-keyout", "leaf.key", "-out", "leaf.csr",
            "-subj", "/CN=localhost", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "san.ext",
            cwd=d)  # fmt: skip
    return d


def test_https_connects_to_the_checked_ip_and_verifies_the_name(certificates: Path) -> None:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certificates / "leaf.pem", certificates / "leaf.key")
    trust = ssl.create_default_context(cafile=str(certificates / "ca.pem"))
    with serving(server) as tls_site:
        port = tls_site.base.rpartition(":")[2]
        # the certificate names localhost, not 127.0.0.1: the check passes only
        # because SNI and verification use the name while the socket goes to the IP
        answer = check_url(f"https://localhost:{port}/ok.png", allow_private=True, verify=trust)
        assert answer.status == 200 and answer.first_bytes.startswith(b"\x89PNG")
        assert tls_site.hosts == [f"localhost:{port}"]
        # and verification is real: the same server by its IP fails it
        message = refused(f"https://127.0.0.1:{port}/ok.png", allow_private=True, verify=trust)
        assert message.startswith("could not connect to 127.0.0.1"), message
        assert "CERTIFICATE_VERIFY_FAILED" in message, message


def test_a_closed_port_is_a_connection_problem_not_a_crash() -> None:
    with socket.socket() as held:  # bound, never listening: connections are refused
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        message = refused(f"http://127.0.0.1:{port}/x.png", allow_private=True)
    assert message.startswith("could not connect to 127.0.0.1 ("), message
    assert "()" not in message
