"""The transport's direct path (http.client on the pool's connections) and its path through a proxy:
honest answers in every framing are read whole, lying framings stay bounded, and a connection left
with unread bytes or closed by the server is never reused for the next request."""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import re
import socket
import threading
import time
import zlib

import pytest

from provisioner.errors import JenkinsFailure
from provisioner.jenkins import RetryPolicy, job_path
from provisioner.jenkins.http import MAX_CONFIG_BYTES, USER_AGENT, HttpTarget
from provisioner.jobs.render import render_folder_config
from tests.helpers.cli import TOKEN, USER
from tests.helpers.hostile import MiB, Route, answer, gzip_bomb, hostile_server, redirect

ONCE = RetryPolicy(attempts=1, base_delay=0.0, timeout=5)  # no retry hides a broken connection
JOB = job_path("j", None)
CONFIG = "/job/j/config.xml"
XML = b"<project><description>caf\xc3\xa9</description></project>"


def target(url: str, retry: RetryPolicy = ONCE) -> HttpTarget:
    return HttpTarget(url, folder_config=render_folder_config, username=USER, token=TOKEN, retry=retry)


def _head(handler: http.server.BaseHTTPRequestHandler, *headers: tuple[str, str]) -> None:
    handler.send_response(200)
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()


def chunked(body: bytes) -> Route:
    def route(handler: http.server.BaseHTTPRequestHandler, _stop: threading.Event) -> None:
        _head(handler, ("Transfer-Encoding", "chunked"))
        for piece in (body[:7], body[7:]):
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        handler.wfile.write(b"0\r\n\r\n")

    return route


def until_close(body: bytes) -> Route:
    def route(handler: http.server.BaseHTTPRequestHandler, _stop: threading.Event) -> None:
        _head(handler, ("Connection", "close"))
        handler.close_connection = True
        handler.wfile.write(body)

    return route


def declared(length: int, body: bytes, *, close: bool = False) -> Route:
    """A Content-Length of ``length`` whatever ``body`` holds; ``close``: hang up after it, unannounced."""

    def route(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        _head(handler, ("Content-Length", str(length)))
        handler.wfile.write(body)
        handler.wfile.flush()
        if close:
            handler.close_connection = True
        elif len(body) < length:
            stop.wait(10)  # the rest never comes

    return route


def drip_until_close(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
    """No length, Connection: close, then a byte every 0.2 s: http.client takes the socket off the
    connection for such an answer."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<project>")
    handler.wfile.flush()
    handler.close_connection = True
    while not stop.wait(0.2):
        handler.wfile.write(b" ")
        handler.wfile.flush()


def read_within(url: str, seconds: float) -> tuple[float, BaseException | None]:
    """How long read_job took with a ``seconds`` deadline and one attempt, and what it raised."""
    jenkins = target(url, RetryPolicy(attempts=1, base_delay=0.0, timeout=seconds))
    started = time.monotonic()
    try:
        jenkins.read_job(JOB)
    except BaseException as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


def test_the_deadline_holds_for_an_answer_that_closes_the_connection() -> None:
    with hostile_server({CONFIG: drip_until_close}) as server:
        elapsed, error = read_within(server.url, 1.0)
    assert elapsed < 2.5, elapsed
    assert isinstance(error, JenkinsFailure) and "no complete answer within 1 s" in error.message, error


@pytest.mark.parametrize(
    "route",
    [
        answer(200, XML),
        chunked(XML),
        until_close(XML),
        answer(200, gzip.compress(XML), ("Content-Encoding", "gzip")),
        answer(200, zlib.compress(XML), ("Content-Encoding", "deflate")),
    ],
    ids=["length", "chunked", "until-close", "gzip", "deflate"],
)
def test_honest_answers_are_read_whole_in_every_framing(route: Route) -> None:
    with hostile_server({CONFIG: route}) as server:
        jenkins = target(server.url)
        assert jenkins.read_job(JOB) == XML.decode()
        assert jenkins.read_job(JOB) == XML.decode()  # the connection (kept or new) serves the next one


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    with hostile_server({CONFIG: declared(MAX_CONFIG_BYTES + 1, b"")}) as server:
        started = time.monotonic()
        with pytest.raises(JenkinsFailure, match="larger than 16 MiB"):
            target(server.url).read_job(JOB)
        assert time.monotonic() - started < 2  # not waiting for a body that never comes


def test_a_length_shorter_than_the_body_reads_the_length_and_drops_the_connection() -> None:
    """The bytes past the declared length are not read, and are never taken for the next answer."""
    junk = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstolen" + b"x" * MiB
    with hostile_server({CONFIG: declared(len(XML), XML + junk), "/job/k/": answer(200, XML)}) as server:
        jenkins = target(server.url)
        assert jenkins.read_job(JOB) == XML.decode()
        time.sleep(0.1)  # the junk has arrived
        assert jenkins.read_job(job_path("k", None)) == XML.decode()


def test_a_length_longer_than_the_body_is_a_failure_not_a_short_answer() -> None:
    route = declared(len(XML) + 10, XML, close=True)
    with hostile_server({CONFIG: route}) as server, pytest.raises(JenkinsFailure, match="connection failed"):
        target(server.url).read_job(JOB)


def test_a_connection_the_server_closed_is_not_reused() -> None:
    with hostile_server({CONFIG: declared(len(XML), XML, close=True)}) as server:
        jenkins = target(server.url)
        assert jenkins.read_job(JOB) == XML.decode()
        time.sleep(0.1)  # the server's FIN has arrived
        assert jenkins.read_job(JOB) == XML.decode()
        assert len(server.requests) == 2  # no failed attempt on the closed connection


# -- through a proxy (urllib3's own request: absolute URLs, the CONNECT tunnel for https) --------------
ORIGIN = "http://jenkins.internal:8080/"


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_requests_go_through_the_proxy_the_environment_names(
    proxy_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with hostile_server({ORIGIN + "job/j/": answer(200, XML)}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        assert target(ORIGIN).read_job(JOB) == XML.decode()
    assert proxy.paths("GET") == [ORIGIN + "job/j/config.xml"]


def test_a_gzip_bomb_through_the_proxy_is_cut_off(proxy_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    route, _size = gzip_bomb(64 * MiB)
    with hostile_server({ORIGIN: route}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with pytest.raises(JenkinsFailure, match="larger than"):
            target(ORIGIN).read_job(JOB)


def test_a_redirect_off_the_jenkins_through_the_proxy_is_refused(
    proxy_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with hostile_server({ORIGIN: answer(302, b"", ("Location", "http://elsewhere.internal/"))}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with pytest.raises(JenkinsFailure, match="redirect"):
            target(ORIGIN).read_job(JOB)
    assert len(proxy.requests) == 1


def test_the_deadline_holds_through_the_proxy(proxy_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with hostile_server({ORIGIN: drip_until_close}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        elapsed, error = read_within(ORIGIN, 1.0)
    assert elapsed < 2.5, elapsed
    assert isinstance(error, JenkinsFailure) and "no complete answer within 1 s" in error.message, error


# -- what is sent ----------------------------------------------------------------------------------
def test_the_request_on_the_wire() -> None:
    """Host (with the port), identity encoding, our agent and credentials, the body's length."""
    heads: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as stream:
            for _ in range(2):
                head = b"".join(iter(lambda: stream.readline(), b"\r\n"))
                heads.append(head)
                length = re.search(rb"Content-Length: (\d+)", head)
                stream.read(int(length.group(1)) if length else 0)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    try:
        jenkins = target(f"http://127.0.0.1:{port}/jenkins/")
        jenkins._crumb_headers = {}  # CSRF off: this server answers two requests only
        assert jenkins.read_job(JOB) == "ok"
        jenkins.update_job(JOB, "<project/>")
        thread.join(5)
    finally:
        server.close()
    token = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    auth = f"authorization: Basic {token}"  # as urllib3.make_headers names it
    common = [f"Host: 127.0.0.1:{port}", "Accept-Encoding: identity", "User-Agent: " + USER_AGENT, auth]
    assert heads[0].decode().split("\r\n")[:-1] == ["GET /jenkins/job/j/config.xml HTTP/1.1", *common]
    assert heads[1].decode().split("\r\n")[:-1] == [
        "POST /jenkins/job/j/config.xml HTTP/1.1",
        *common,
        "Content-Type: text/xml; charset=utf-8",
        "Content-Length: 10",
    ]


@pytest.mark.parametrize("path", ["job/a b/config.xml", "job/a\r\nX-Evil: 1/config.xml", "job/\u00e9/"])
def test_a_request_target_with_blanks_controls_or_non_ascii_is_never_sent(path: str) -> None:
    with hostile_server({"/": answer(200, XML)}) as server:
        with pytest.raises(JenkinsFailure, match="refusing to send a request target"):
            target(server.url).get_json(path, what="test")
        assert server.requests == []


def test_a_redirect_to_a_target_with_a_blank_is_not_followed() -> None:
    with hostile_server({CONFIG: redirect("/moved here/config.xml"), "/moved": answer(200, XML)}) as server:
        with pytest.raises(JenkinsFailure, match="refusing to send a request target"):
            target(server.url).read_job(JOB)
        assert server.paths() == [CONFIG]


@pytest.mark.parametrize("field", ["Content-Length", "Authorization", "host"])
def test_a_crumb_field_that_would_replace_our_headers_is_refused(field: str) -> None:
    crumb = json.dumps({"crumbRequestField": field, "crumb": "7"}).encode()
    with hostile_server({"/crumbIssuer/api/json": answer(200, crumb)}) as server:
        with pytest.raises(JenkinsFailure, match="crumb"):
            target(server.url).update_job(JOB, "<project/>")
        assert server.paths("POST") == []
