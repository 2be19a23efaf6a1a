"""Hostile HTTP servers on loopback: what a broken or malicious "Jenkins" (or a proxy in front of it)
may answer. Each route is a function writing the whole answer itself, so it can lie, drip or inflate.

The Jenkins emulator stays a faithful Jenkins; misbehaviour lives here.
"""

from __future__ import annotations

import gzip
import http.server
import io
import ssl
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

Route = Callable[[http.server.BaseHTTPRequestHandler, threading.Event], None]

MiB = 1024 * 1024


@dataclass
class Hostile:
    url: str
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path with query)

    def paths(self, method: str | None = None) -> list[str]:
        return [path for m, path in self.requests if method is None or m == method]


def _answer(
    handler: http.server.BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
) -> None:
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def answer(status: int, body: bytes = b"", *headers: tuple[str, str]) -> Route:
    return lambda handler, _stop: _answer(handler, status, body, headers)


def html_page(status: int = 200) -> Route:
    """What a login page, an SSO proxy or a misrouted ingress answers: HTML, not JSON."""
    page = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"
    return answer(status, page, ("Content-Type", "text/html;charset=utf-8"))


def redirect(location: str, status: int = 302) -> Route:
    return answer(status, b"", ("Location", location))


def endless_body(total: int, *, declared: bool = True, chunk: int = 64 * 1024) -> Route:
    """``total`` bytes of a job-like XML body, streamed (the server itself holds one chunk).

    ``declared``: with a Content-Length header, else delimited by closing the connection.
    """

    def route(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/xml")
        if declared:
            handler.send_header("Content-Length", str(total))
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        block = b"<!-- " + b"x" * (chunk - 9) + b" -->"
        sent = 0
        while sent < total and not stop.is_set():
            piece = block[: total - sent]
            handler.wfile.write(piece)
            sent += len(piece)

    return route


def chunked_body(total: int, lying_length: int = 10, chunk: int = 64 * 1024) -> Route:
    """``total`` bytes chunked, with a small Content-Length too (chunked framing wins, RFC 9112)."""

    def route(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/xml")
        handler.send_header("Content-Length", str(lying_length))
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        block = b"x" * chunk
        sent = 0
        while sent < total and not stop.is_set():
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
            sent += len(block)
        handler.wfile.write(b"0\r\n\r\n")

    return route


def gzip_bomb(inflated: int) -> tuple[Route, int]:
    """A gzip body of ``inflated`` zero bytes (sent with Content-Encoding: gzip); returns its size too."""
    out = io.BytesIO()
    block = bytes(MiB)
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as stream:
        for _ in range(inflated // MiB):
            stream.write(block)
    data = out.getvalue()
    route = answer(200, data, ("Content-Type", "application/xml"), ("Content-Encoding", "gzip"))
    return route, len(data)


def deflate_bomb(inflated: int) -> Route:
    compressor = zlib.compressobj(9)
    block = bytes(MiB)
    data = b"".join(compressor.compress(block) for _ in range(inflated // MiB)) + compressor.flush()
    return answer(200, data, ("Content-Type", "application/json"), ("Content-Encoding", "deflate"))


def drip(interval: float, *, in_headers: bool = False) -> Route:
    """One byte every ``interval`` seconds, each in time for any per-read timeout, until stopped."""

    def route(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 100000\r\n"
        if in_headers:
            payload = head + b"X-Slow: " + b"a" * 100000
        else:
            handler.wfile.write(head + b"\r\n")
            handler.wfile.flush()
            payload = b"<project>" + b" " * 100000
        for byte in payload:
            if stop.wait(interval):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    return route


@contextmanager
def hostile_server(routes: dict[str, Route], *, tls: tuple[Path, Path] | None = None) -> Iterator[Hostile]:
    """Serve ``routes`` (path prefix -> route, longest prefix wins; else 404) on 127.0.0.1.

    ``tls``: (certificate, key) files to serve HTTPS with.
    """
    stop = threading.Event()
    hostile = Hostile(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _route(self) -> None:
            hostile.requests.append((self.command, self.path))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            matches = [prefix for prefix in routes if path.startswith(prefix)]
            try:
                if matches:
                    routes[max(matches, key=len)](self, stop)
                else:
                    _answer(self, 404)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = _route

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client hanging up on a hostile answer is the point

    server = Server(("127.0.0.1", 0), Handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hostile.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}/"
    try:
        yield hostile
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
