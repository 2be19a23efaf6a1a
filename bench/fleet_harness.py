"""Measurement side of bench_fleet.py: the emulator process, timed child runs and the emulator floor.

The emulator (python -m tests.jenkins_emulator: API-token user, CSRF on, realistic re-serialization)
runs in a process of its own; its /_emulator/ control endpoints reset it and give its request counters,
and /proc gives its CPU time, so every run reports what the server itself spent.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
USER, TOKEN = "bench", "bench-token-7c1e"
Request = Callable[..., None]  # (method, path, body=None): raises on an HTTP error


@dataclass
class Run:
    tool: str
    scenario: str
    workers: int
    wall: float
    rss_tree_mb: float
    rss_max_mb: float
    gets: int
    posts: int
    ok: bool
    note: str = ""
    server_cpu: float = 0.0  # CPU seconds the emulator process spent serving the run
    cpu: float = 0.0  # CPU seconds of the tool's process tree (user + system, os.wait4)
    # Seconds from the tool's start until the emulator recorded its first request (interpreter start,
    # imports, reading the fleet, the planning workers), and from its last request to the tool's exit
    # (the report, shutting down): the serial parts of a run. None when it sent no request.
    startup: float | None = None
    wind_down: float | None = None


class Emulator:
    def __init__(self, latency_ms: float = 0.0) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.latency_ms = latency_ms
        argv = [sys.executable, "-m", "tests.jenkins_emulator", "--port", "0", "--user", USER]
        self.proc = subprocess.Popen(
            [*argv, "--token", TOKEN, "--latency-ms", str(latency_ms)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.match(r"URL (\S+)", line)
        if not match:
            raise RuntimeError(f"emulator did not start: {line!r}")
        self.url = match.group(1)

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return bytes(response.read())

    def reset(self, jobs: bool = False) -> None:
        """Zero the counters; with ``jobs`` also delete every job and folder."""
        request = urllib.request.Request(
            self.url + "_emulator/reset" + ("?jobs=1" if jobs else ""), method="POST", data=b""
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def stats(self) -> dict[str, object]:
        return dict(json.loads(self._get("_emulator/stats")))

    def by_method(self) -> tuple[int, int]:
        return _by_method(self.stats())

    def jobs(self) -> list[str]:
        return list(json.loads(self._get("_emulator/jobs")))

    def config(self, name: str) -> str:
        return self._get("_emulator/config?name=" + quote(name)).decode()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _by_method(stats: dict[str, object]) -> tuple[int, int]:
    """(GETs, POSTs) counted since the last reset."""
    counts = dict(stats["byMethod"])  # type: ignore[call-overload]
    return int(counts.get("GET", 0)), int(counts.get("POST", 0))


def _gap(later: object, earlier: object) -> float | None:
    """Seconds between two time.monotonic() readings; None when either is missing."""
    if isinstance(later, int | float) and isinstance(earlier, int | float):
        return float(later) - float(earlier)
    return None


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants (e.g. reconcile-all's planning worker)."""
    total, stack, seen = 0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


class Launcher:
    """The tools are started by bench/fleet_launcher.py (see there why), over a JSON-lines pipe."""

    def __init__(self) -> None:
        script = Path(__file__).resolve().parent / "fleet_launcher.py"
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def start(self, argv: list[str], env: dict[str, str], stderr: Path) -> int:
        assert self.proc.stdin is not None
        request = {"argv": argv, "env": env, "cwd": str(ROOT), "stderr": str(stderr)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return int(self._answer()["pid"])

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the launcher died")
        return dict(json.loads(line))

    def wait(self) -> dict[str, Any]:
        """The tool started last: code, wall (seconds), maxrss_kb, cpu (seconds), startedAt and endedAt
        (time.monotonic() just before its start and after its exit)."""
        return self._answer()

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def measure(
    tool: str,
    scenario: str,
    workers: int,
    argv: list[str],
    env: dict[str, str],
    emulator: Emulator,
    launcher: Launcher,
    stderr: Path,
) -> Run:
    """Run argv as a child of the launcher: wall time and ru_maxrss from os.wait4 there, the peak RSS
    of its process tree sampled from /proc here, the emulator's GET/POST counters and CPU time."""
    emulator.reset()
    cpu0 = emulator.cpu_seconds()
    pid = launcher.start(argv, env, stderr)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    answer = launcher.wait()
    code, wall, maxrss_kb, cpu = int(answer["code"]), answer["wall"], answer["maxrss_kb"], answer["cpu"]
    done.set()
    sampler.join()
    stats = emulator.stats()
    gets, posts = _by_method(stats)
    err = stderr.read_bytes().decode(errors="replace")
    note = "" if code == 0 else f"exit {code}: {' '.join(err.split())[-240:]}"
    return Run(
        tool,
        scenario,
        workers,
        wall,
        peak / 1024,
        maxrss_kb / 1024,
        gets,
        posts,
        code == 0,
        note,
        emulator.cpu_seconds() - cpu0,
        cpu,
        _gap(stats["firstAt"], answer["startedAt"]),
        _gap(answer["endedAt"], stats["lastAt"]),
    )


@dataclass(frozen=True)
class FloorJob:
    full_name: str  # "job" or "folder/job"
    config: bytes


def _job_path(full_name: str) -> str:
    return "".join(f"/job/{quote(part, safe='')}" for part in full_name.split("/"))


class FloorClient:
    """The emulator alone: reconcile-all's request mix with no work between requests (no git, no
    rendering, no comparison). One listing, then each job's requests in order on keep-alive
    http.client connections: one connection, or ``connections`` threads with one each (against a
    delayed emulator, where a single connection would only measure the delay)."""

    def __init__(self, emulator: Emulator, folder_config: bytes, connections: int = 1) -> None:
        self.emulator = emulator
        self.folder_config = folder_config
        self.connections = connections
        host, port = emulator.url.split("//")[1].rstrip("/").split(":")
        self.address = (host, int(port))
        token = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
        self.auth = {"Authorization": "Basic " + token}

    def _requester(self) -> tuple[Request, http.client.HTTPConnection]:
        conn = http.client.HTTPConnection(*self.address)

        def request(method: str, path: str, body: bytes | None = None) -> None:
            headers = {**self.auth, "Content-Type": "text/xml"} if body is not None else self.auth
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status >= 400:
                raise RuntimeError(f"floor: {method} {path} -> {response.status}")

        return request, conn

    def _timed(self, scenario: str, jobs: list[FloorJob], send: Callable[[Request, FloorJob], None]) -> Run:
        self.emulator.reset()
        cpu0 = self.emulator.cpu_seconds()
        start = time.perf_counter()
        first, conn = self._requester()
        first("GET", "/api/json?tree=jobs%5Bname%5D")
        if self.connections <= 1:
            for job in jobs:
                send(first, job)
        else:
            from concurrent.futures import ThreadPoolExecutor

            local = threading.local()

            def one(job: FloorJob) -> None:
                if not hasattr(local, "request"):
                    local.request, local.conn = self._requester()
                send(local.request, job)

            with ThreadPoolExecutor(self.connections) as pool:
                list(pool.map(one, jobs))
        wall = time.perf_counter() - start
        cpu = self.emulator.cpu_seconds() - cpu0
        conn.close()
        gets, posts = self.emulator.by_method()
        return Run(
            "emulator floor", scenario, self.connections, wall, 0, 0, gets, posts, True, server_cpu=cpu
        )

    def cold(self, jobs: Iterable[FloorJob]) -> Run:
        """Empty Jenkins: list, create each folder and job (createItem), read each job back."""
        self.emulator.reset(jobs=True)

        def send(request: Request, job: FloorJob) -> None:
            parent, _, name = job.full_name.rpartition("/")
            if parent:
                request("POST", "/createItem?name=" + quote(parent), self.folder_config)
            request(
                "POST", (_job_path(parent) if parent else "") + "/createItem?name=" + quote(name), job.config
            )
            request("GET", _job_path(job.full_name) + "/config.xml")

        return self._timed("cold: list, create, read back", list(jobs), send)

    def noop(self, jobs: Iterable[FloorJob]) -> Run:
        def send(request: Request, job: FloorJob) -> None:
            request("GET", _job_path(job.full_name) + "/config.xml")

        return self._timed("no-op: list, read every config", list(jobs), send)

    def change(self, jobs: Iterable[FloorJob]) -> Run:
        def send(request: Request, job: FloorJob) -> None:
            path = _job_path(job.full_name) + "/config.xml"
            request("GET", path)
            request("POST", path, job.config)
            request("GET", path)

        return self._timed("change: list, read, write, read back", list(jobs), send)

    def change_written(self, jobs: Iterable[FloorJob]) -> Run:
        """A change that needs no read before the write (the listing told what was applied)."""

        def send(request: Request, job: FloorJob) -> None:
            path = _job_path(job.full_name) + "/config.xml"
            request("POST", path, job.config)
            request("GET", path)

        return self._timed("change: list, write, read back", list(jobs), send)
