"""``python -m tests.jenkins_emulator`` in a separate process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import jenkins
import requests

from .conftest import pipeline

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_until_sigterm() -> None:
    env = {**os.environ, "EMULATOR_PASSWORD": "pw", "EMULATOR_TOKEN": "tok"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.jenkins_emulator", "--port", "0", "--user", "admin"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("URL http://127.0.0.1:")
        url = line.split()[1]
        client = jenkins.Jenkins(url, "admin", "pw", timeout=10)
        client.create_job("a", pipeline())
        assert client.job_exists("a")
        stats = requests.get(url + "_emulator/stats", timeout=10).json()
        assert stats["byMethod"] == {"GET": 4, "POST": 1}
        assert stats["jobs"] == 1
        reqs = requests.get(url + "_emulator/requests", timeout=10).json()
        assert reqs[0] == {"method": "GET", "path": "/crumbIssuer/api/json", "query": "", "status": 200}
        assert requests.post(url + "_emulator/reset?jobs=1", timeout=10).json() == {"ok": True}
        assert requests.get(url + "_emulator/stats", timeout=10).json()["total"] == 0
        assert not client.job_exists("a")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()


@contextmanager
def _served(*flags: str) -> Iterator[str]:
    """``python -m tests.jenkins_emulator --port 0 FLAGS`` in a process of its own: its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.jenkins_emulator", "--port", "0", *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().split()[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()


def test_cli_no_csrf_plain() -> None:
    with _served("--no-csrf", "--plain") as url:
        assert requests.get(url + "crumbIssuer/api/json", timeout=10).status_code == 404
        client = jenkins.Jenkins(url, timeout=10)
        client.create_job("a", pipeline())
        assert client.get_job_config("a") == pipeline()


def test_cli_latency_delays_every_jenkins_request_and_they_overlap() -> None:
    """--latency-ms: each Jenkins request waits that long; concurrent ones wait at the same time
    (a Jenkins across a network), the /_emulator/ control endpoints do not wait."""
    with _served("--no-csrf", "--latency-ms", "200") as url:
        start = time.perf_counter()
        requests.get(url + "_emulator/stats", timeout=10).raise_for_status()
        assert time.perf_counter() - start < 0.15
        start = time.perf_counter()
        assert requests.get(url + "api/json", timeout=10).status_code == 200
        assert time.perf_counter() - start >= 0.2
        start = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(lambda _: requests.get(url + "api/json", timeout=10).status_code, range(4)))
        assert codes == [200] * 4
        assert 0.2 <= time.perf_counter() - start < 0.6  # overlapping, not 4 x 0.2 s
