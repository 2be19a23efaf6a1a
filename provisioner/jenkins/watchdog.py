"""The overall deadline of a request: a watchdog thread shuts down the socket of a request whose
deadline has passed.

A per-read timeout alone does not bound a request: a server dripping one byte a second never trips
it. Each thread has at most one request in flight; its entry holds the deadline and the connection
the request is using (attached by the transport when it takes a connection, and by the connection
itself when it connects or sends). The thread runs only while requests are in flight, and lingers a
little for the next one. A request's own bookkeeping is a dictionary entry under a plain lock (no
thread, event or context manager per request): the watchdog thread is woken only for a deadline
earlier than the one it waits for, which requests sharing one timeout never are.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from typing import Any

_WATCHDOG_LINGER = 5.0  # seconds the watchdog thread waits for new requests before it ends
_ATTACH_POLL = 0.05  # a request past its deadline before its connection was attached: checked this often


class Watchdog:
    """Deadlines of the requests in flight, one per thread; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._active: dict[int, tuple[float, Any]] = {}  # thread id -> (deadline, connection or None)
        self._cut: set[int] = set()  # thread ids whose request's connection was cut
        self._running = False
        self._wakes_at = math.inf  # when the watchdog thread looks next (monotonic clock)

    def start(self, seconds: float) -> float:
        """Start this thread's request: its deadline (monotonic clock), ``seconds`` from now.
        Every start is followed by :meth:`stop` (try/finally)."""
        end = time.monotonic() + seconds
        with self._lock:
            self._active[threading.get_ident()] = (end, None)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="jenkins-deadline", daemon=True).start()
            elif end < self._wakes_at:  # usually not: requests share one timeout, so later deadlines
                self._cond.notify()
        return end

    def stop(self) -> bool:
        """This thread's request is over: its connection is never cut from now on. True when the
        watchdog did cut it."""
        me = threading.get_ident()
        with self._lock:
            del self._active[me]
            if not self._cut:
                return False
            cut = me in self._cut
            self._cut.discard(me)
        return cut

    def attach(self, connection: Any) -> None:
        """The connection (or the socket itself) this thread's request is using."""
        me = threading.get_ident()
        with self._lock:
            entry = self._active.get(me)
            if entry is not None:
                self._active[me] = (entry[0], connection)

    def _run(self) -> None:
        idle_since: float | None = None
        with self._cond:
            while True:
                now = time.monotonic()
                for me, (end, connection) in list(self._active.items()):
                    if end <= now and connection is not None:
                        _sever(connection)  # under the lock: the connection is still this request's
                        self._active[me] = (math.inf, None)
                        self._cut.add(me)  # stop() tells the request
                if self._active:
                    idle_since = None
                elif idle_since is None:
                    idle_since = now
                elif now - idle_since >= _WATCHDOG_LINGER:
                    self._running = False
                    return
                nearest = min((end for end, _ in self._active.values() if end > now), default=math.inf)
                if any(end <= now for end, _ in self._active.values()):  # not yet attached: look again soon
                    nearest = min(nearest, now + _ATTACH_POLL)
                self._wakes_at = min(nearest, now + _WATCHDOG_LINGER)
                self._cond.wait(self._wakes_at - now)


def _sever(connection: Any) -> None:
    sock = connection if isinstance(connection, socket.socket) else getattr(connection, "sock", None)
    if sock is None:
        return
    # The plain socket's shutdown, also for a TLS socket: the reading thread gets EOF at once
    # (ssl.SSLSocket.shutdown would also unwrap the TLS object under that thread's feet).
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def watched_pool_classes(watchdog: Watchdog, response_class: type) -> dict[str, type]:
    """urllib3 pools whose connections tell the watchdog which socket the current request uses
    (and read answers as ``response_class``, an http.client.HTTPResponse)."""
    import urllib3
    from urllib3.connection import HTTPConnection, HTTPSConnection

    response_class_ = response_class

    class Watched:
        """Tells the watchdog which connection (socket) this thread's request is using."""

        response_class = response_class_

        def connect(self) -> None:
            watchdog.attach(self)
            super().connect()  # type: ignore[misc]

        def request(self, *args: Any, **kwargs: Any) -> None:  # urllib3's request (through a proxy)
            watchdog.attach(self)
            super().request(*args, **kwargs)  # type: ignore[misc]

        def getresponse(self) -> Any:  # urllib3's (through a proxy)
            # The socket itself: an answer that closes the connection takes the socket off it.
            watchdog.attach(self.sock)  # type: ignore[attr-defined]
            return super().getresponse()  # type: ignore[misc]

    class WatchedHTTPConnection(Watched, HTTPConnection):
        pass

    class WatchedHTTPSConnection(Watched, HTTPSConnection):
        pass

    class HTTPPool(urllib3.HTTPConnectionPool):
        ConnectionCls = WatchedHTTPConnection

    class HTTPSPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = WatchedHTTPSConnection

    return {"http": HTTPPool, "https": HTTPSPool}
