"""A loopback webhook for notification tests: answers with a chosen status, redirects, or hangs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Webhook:
    url: str
    status: int = 200
    hang: bool = False
    location: str | None = None
    received: list[tuple[str, bytes]] = field(default_factory=list)  # (path, body)
    release: threading.Event = field(default_factory=threading.Event)


@contextmanager
def webhook(token: str = "s3cr3t-token") -> Iterator[Webhook]:
    """A webhook on 127.0.0.1 whose URL carries ``token`` in its path (as real ones carry a secret)."""
    state: list[Webhook] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hook = state[0]
            length = int(self.headers.get("Content-Length", "0"))
            hook.received.append((self.path, self.rfile.read(length)))
            if hook.hang:
                hook.release.wait(60)
                return
            self.send_response(hook.status)
            if hook.location:
                self.send_header("Location", hook.location)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.append(Webhook(url=f"http://127.0.0.1:{server.server_port}/hook/{token}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state[0]
    finally:
        state[0].release.set()
        server.shutdown()
        server.server_close()
