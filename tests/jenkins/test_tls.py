"""TLS against a real HTTPS server on loopback: verification on, the CA given with --ca-bundle works."""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.errors import JenkinsFailure
from provisioner.jenkins import RetryPolicy, job_path
from provisioner.jenkins.http import HttpTarget
from provisioner.jobs.render import render_folder_config
from tests.helpers.hostile import drip, hostile_server

OPENSSL = shutil.which("openssl")
NO_WAIT = RetryPolicy(attempts=2, base_delay=0.0, timeout=5)


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def cert_and_key(tmp_path: Path) -> tuple[Path, Path]:
    if OPENSSL is None:
        pytest.fail("openssl is needed for the TLS tests (Debian package openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def https_url(cert_and_key: tuple[Path, Path]) -> Iterator[tuple[str, Path]]:
    cert, key = cert_and_key
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/", cert
    finally:
        server.shutdown()
        server.server_close()


def test_unknown_ca_is_refused(https_url: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("PYTHONHTTPSVERIFY", "0")  # python-jenkins would turn verification off; we do not
    url, _cert = https_url
    with pytest.raises(JenkinsFailure, match=r"TLS verification failed.*--ca-bundle"):
        HttpTarget(url, folder_config=render_folder_config, retry=NO_WAIT).read_job(job_path("j", None))


def test_ca_bundle_is_trusted(https_url: tuple[str, Path]) -> None:
    url, cert = https_url
    assert (
        HttpTarget(url, folder_config=render_folder_config, ca_bundle=cert, retry=NO_WAIT).read_job(
            job_path("j", None)
        )
        is None
    )  # 404


def test_crumb_request_verifies_tls_too(https_url: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    url, _cert = https_url
    with pytest.raises(JenkinsFailure, match=r"TLS verification failed.*--ca-bundle"):
        HttpTarget(url, folder_config=render_folder_config, retry=NO_WAIT).update_job(
            job_path("j", None), "<project/>"
        )


def test_deadline_holds_over_tls(cert_and_key: tuple[Path, Path]) -> None:
    """The watchdog cuts a TLS connection too (the plain socket's shutdown, under the TLS layer)."""
    cert, key = cert_and_key
    policy = RetryPolicy(attempts=1, base_delay=0.0, timeout=1.0)
    with hostile_server({"/job/j/config.xml": drip(0.2)}, tls=(cert, key)) as server:
        target = HttpTarget(server.url, folder_config=render_folder_config, ca_bundle=cert, retry=policy)
        started = time.monotonic()
        with pytest.raises(JenkinsFailure, match=r"no complete answer within 1 s"):
            target.read_job(job_path("j", None))
        assert time.monotonic() - started < 2.5
