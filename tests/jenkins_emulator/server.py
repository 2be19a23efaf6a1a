"""JenkinsEmulator: a threaded loopback HTTP server speaking enough of Jenkins's REST API.

See tests/jenkins_emulator/__init__.py for the public API and /work/shared/jenkins-facts.md for
the behaviours emulated.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from . import xmlconfig
from .handler import Handler
from .model import Build, ItemTree, NotFound
from .responses import JSON_TYPE, Response, json_response


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # raw (percent-encoded) path, without the query
    query: str  # raw query string ("" when none)
    status: int  # 0 when the connection was closed by fail_next(status=0)


@dataclass
class _Injection:
    status: int | None  # None: delay only; 0: close the connection
    delay: float
    remaining: int
    path_prefix: str | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], emulator: JenkinsEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # client went away (timeouts, closed sockets): not our bug
            return
        super().handle_error(request, client_address)


class JenkinsEmulator:
    """Start with ``with JenkinsEmulator(...) as jenkins:`` (or ``start()`` / ``stop()``).

    Security is on when ``users`` or ``api_tokens`` is non-empty. Every attribute below that is not
    a method can be changed while serving (read per request): ``csrf``, ``anonymous_read``,
    ``token_crumb_exempt``, ``users``, ``api_tokens``, ``read_only_users``, ``latency``.
    """

    def __init__(
        self,
        users: dict[str, str] | None = None,
        api_tokens: dict[str, str] | None = None,
        *,
        csrf: bool = True,
        realistic: bool = True,
        anonymous_read: bool = False,
        version: str = "2.479.1",
        token_crumb_exempt: bool = True,
        drop_invalid_triggers: bool | None = None,
        read_only_users: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
    ) -> None:
        self.users: dict[str, str] = dict(users or {})
        self.api_tokens: dict[str, str] = dict(api_tokens or {})
        self.csrf = csrf
        self.realistic = realistic
        self.anonymous_read = anonymous_read
        self.version = version
        self.token_crumb_exempt = token_crumb_exempt
        self.read_only_users = set(read_only_users)
        # Seconds every Jenkins request waits before it is answered (a Jenkins across a network);
        # the /_emulator/ control endpoints are never delayed.
        self.latency = latency
        self.tree = ItemTree(
            realistic=realistic,
            drop_invalid_triggers=realistic if drop_invalid_triggers is None else drop_invalid_triggers,
        )
        self.session_id = secrets.token_hex(4)
        self.cookie_name = f"JSESSIONID.{secrets.token_hex(4)}"
        self._salt = secrets.token_hex(16)
        self._sessions: set[str] = set()
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stats_lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        # time.monotonic() when the first and the last counted request since the last reset were recorded,
        # just before each answer is written
        # (CLOCK_MONOTONIC is one clock for every process here: a benchmark compares them with its own).
        self._first_at: float | None = None
        self._last_at: float | None = None
        self._injections: list[_Injection] = []
        self.internal_errors: list[str] = []  # tracebacks of emulator bugs (answered as 500)
        self.connections = 0  # TCP connections accepted (keep-alive reuse shows as few connections)
        self.url = ""

    # ------------------------------------------------------------------------------ lifecycle
    def start(self) -> JenkinsEmulator:
        if self._server is not None:
            return self
        self._server = _Server((self._host, self._port), self)
        self.port = self._server.server_address[1]
        self.url = f"http://{self._host}:{self.port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"jenkins-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> JenkinsEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread (CLI use) until ``stop()`` or KeyboardInterrupt."""
        self.start()
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(0.5)

    # ---------------------------------------------------------------------------- per-request
    @property
    def security(self) -> bool:
        return bool(self.users or self.api_tokens)

    @property
    def common_headers(self) -> str:
        return (
            f"X-Jenkins: {self.version}\r\nX-Hudson: 1.395\r\n"
            f"X-Jenkins-Session: {self.session_id}\r\nServer: Jetty(12.0.16)\r\n"
        )

    def new_session(self) -> str:
        session = f"node0{secrets.token_hex(10)}.node0"
        with self._stats_lock:
            self._sessions.add(session)
        return session

    def session_known(self, session: str) -> bool:
        return session in self._sessions

    def crumb_for(self, user: str | None, session: str) -> str:
        return hashlib.sha256(f"{user or 'anonymous'};{session};{self._salt}".encode()).hexdigest()

    def count_connection(self) -> None:
        with self._stats_lock:
            self.connections += 1

    def record(self, method: str, path: str, query: str, status: int) -> None:
        with self._stats_lock:
            self._requests.append(RecordedRequest(method, path, query, status))
            self._last_at = time.monotonic()
            if self._first_at is None:
                self._first_at = self._last_at

    @property
    def has_injections(self) -> bool:
        return bool(self._injections)

    def take_injection(self, path: str) -> tuple[float, int | None] | None:
        with self._stats_lock:
            for inj in self._injections:
                if (
                    inj.path_prefix is None
                    or path.startswith(inj.path_prefix)
                    or path.lstrip("/").startswith(inj.path_prefix.lstrip("/"))
                ):
                    inj.remaining -= 1
                    if inj.remaining <= 0:
                        self._injections.remove(inj)
                    return inj.delay, inj.status
        return None

    # ------------------------------------------------------------------------------ counters
    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every Jenkins request served so far (``/_emulator/*`` excluded)."""
        with self._stats_lock:
            return list(self._requests)

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        with self._stats_lock:
            reqs = list(self._requests)
        if path_prefix is not None and not path_prefix.startswith("/"):
            path_prefix = "/" + path_prefix
        return sum(
            1
            for r in reqs
            if (method is None or r.method == method.upper())
            and (path_prefix is None or r.path.startswith(path_prefix))
        )

    def reset_counters(self) -> None:
        with self._stats_lock:
            self._requests.clear()
            self.connections = 0
            self._first_at = self._last_at = None

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            reqs = list(self._requests)
            first_at, last_at = self._first_at, self._last_at
        by_method: dict[str, int] = {}
        by_status: dict[str, int] = {}
        for r in reqs:
            by_method[r.method] = by_method.get(r.method, 0) + 1
            by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
        with self.tree.lock:
            items = self.tree.walk()
        return {
            "total": len(reqs),
            "connections": self.connections,
            "byMethod": by_method,
            "byStatus": by_status,
            "jobs": sum(1 for i in items if not i.is_folder),
            "folders": sum(1 for i in items if i.is_folder),
            "firstAt": first_at,
            "lastAt": last_at,
        }

    # ---------------------------------------------------------------------------- injection
    def fail_next(self, status: int, count: int = 1, path_prefix: str | None = None) -> None:
        """Answer the next ``count`` matching requests with ``status`` (0: close the connection)."""
        with self._stats_lock:
            self._injections.append(_Injection(status, 0.0, count, path_prefix))

    def delay_next(
        self, seconds: float, count: int = 1, path_prefix: str | None = None, status: int | None = None
    ) -> None:
        """Sleep ``seconds`` before answering the next ``count`` matching requests normally
        (or with ``status`` when given)."""
        with self._stats_lock:
            self._injections.append(_Injection(status, seconds, count, path_prefix))

    def clear_injections(self) -> None:
        with self._stats_lock:
            self._injections.clear()

    # ------------------------------------------------------------------------------ state
    def job_names(self) -> list[str]:
        """Full names of all jobs (folders excluded), sorted like Jenkins lists them."""
        with self.tree.lock:
            return [i.full_name for i in self.tree.walk() if not i.is_folder]

    def folder_names(self) -> list[str]:
        with self.tree.lock:
            return [i.full_name for i in self.tree.walk() if i.is_folder]

    def has_item(self, full_name: str) -> bool:
        with self.tree.lock:
            try:
                self.tree.resolve_full_name(full_name)
            except NotFound:
                return False
            return True

    def _item(self, full_name: str) -> Any:
        try:
            return self.tree.resolve_full_name(full_name)
        except NotFound:
            raise KeyError(full_name) from None

    def get_config(self, full_name: str) -> str:
        """The config.xml GET would return (re-serialized in realistic mode); KeyError if missing."""
        with self.tree.lock:
            return str(self._item(full_name).config_text)

    def is_disabled(self, full_name: str) -> bool:
        with self.tree.lock:
            return bool(self._item(full_name).facts.disabled)

    def put_job(self, full_name: str, config_xml: str | bytes) -> None:
        """Create or replace an item directly (folders created as needed); ValueError if unloadable."""
        parts = [p for p in full_name.split("/") if p]
        if not parts:
            raise ValueError("empty job name")
        with self.tree.lock:
            try:
                parent = self.tree.ensure_folders(parts[:-1])
                existing = parent.child(parts[-1])
                if existing is not None and existing.facts.root == xmlconfig.parse(config_xml).tag:
                    self.tree.update(existing, config_xml)
                else:
                    if existing is not None:
                        self.tree.delete(existing)
                    self.tree.create(parent, parts[-1], config_xml)
            except Exception as exc:
                raise ValueError(str(exc)) from exc

    def edit_config(self, full_name: str, fn: Callable[[str], str]) -> None:
        """Simulate a manual edit in the UI: ``fn`` gets the current config.xml text, returns the new."""
        with self.tree.lock:
            item = self._item(full_name)
            self.tree.update(item, fn(item.config_text))

    def delete_item(self, full_name: str) -> None:
        with self.tree.lock:
            self.tree.delete(self._item(full_name))

    def record_build(
        self,
        full_name: str,
        parameters: dict[str, str] | None = None,
        result: str | None = "SUCCESS",
        timestamp_ms: int | None = None,
        duration_ms: int = 60_000,
    ) -> int:
        """Add a finished build (``result=None``: still running); returns its number."""
        with self.tree.lock:
            item = self._item(full_name)
            if item.is_folder:
                raise KeyError(f"{full_name} is a folder")
            number = item.next_build_number
            item.next_build_number += 1
            ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
            item.builds.append(Build(number, dict(parameters or {}), result, ts, duration_ms))
            return int(number)

    def queued_builds(self, full_name: str) -> list[dict[str, str]]:
        """Parameters (defaults filled in) of builds queued via REST, oldest first."""
        with self.tree.lock:
            return [dict(q.parameters) for q in self._item(full_name).queue]

    def clear_queue(self, full_name: str | None = None) -> None:
        with self.tree.lock:
            items = [self._item(full_name)] if full_name else self.tree.walk()
            for item in items:
                item.queue.clear()

    def reset_jobs(self) -> None:
        with self.tree.lock:
            self.tree.root.children.clear()

    # ------------------------------------------------------------------- /_emulator/ control
    def control(self, method: str, path: str, query: str) -> Response:
        params = {k: v[0] for k, v in parse_qs(query).items()}
        prefix = params.get("path_prefix")
        if path == "/_emulator/stats" and method == "GET":
            return json_response(self.stats())
        if path == "/_emulator/requests" and method == "GET":
            return json_response([r.__dict__ for r in self.requests])
        if path == "/_emulator/jobs" and method == "GET":
            return json_response(self.job_names())
        if path == "/_emulator/config" and method == "GET":
            try:
                return Response(200, self.get_config(params.get("name", "")), "application/xml")
            except KeyError:
                return Response(404, "no such item", "text/plain")
        if method == "POST":
            if path == "/_emulator/reset":
                self.reset_counters()
                self.clear_injections()
                if params.get("jobs") in ("1", "true"):
                    self.reset_jobs()
                return json_response({"ok": True})
            if path == "/_emulator/fail_next":
                self.fail_next(int(params.get("status", "500")), int(params.get("count", "1")), prefix)
                return json_response({"ok": True})
            if path == "/_emulator/delay_next":
                self.delay_next(float(params.get("seconds", "1")), int(params.get("count", "1")), prefix)
                return json_response({"ok": True})
        return Response(404, json.dumps({"error": "unknown control endpoint"}), JSON_TYPE)
