"""CPU per request of the Jenkins HTTP stack: ``HttpTarget.read_job`` and ``update_job`` against the emulator.

The emulator runs in a process of its own; each request is timed with ``time.thread_time`` (the CPU
of this thread only: waiting for the answer costs nothing). A bare ``http.client`` loop on one
keep-alive connection (no bounds, no retries) is the reference floor.

    python bench/profile_http.py [--count 2000] [--profile get|post]

Prints CPU microseconds per request (the least of 9 rounds); ``--profile`` prints a cProfile of that loop.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import http.client
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from fleet_harness import TOKEN, USER, Emulator  # noqa: E402

from provisioner.jenkins import job_path  # noqa: E402
from provisioner.jenkins.http import HttpTarget  # noqa: E402
from provisioner.jobs.render import render_folder_config  # noqa: E402

CONFIG = (
    "<?xml version='1.1' encoding='UTF-8'?>\n<project><description>bench</description>"
    '<keepDependencies>false</keepDependencies><properties/><scm class="hudson.scm.NullSCM"/>'
    "<canRoam>true</canRoam><disabled>false</disabled><triggers/><builders/><publishers/>"
    "<buildWrappers/></project>"
)


def per_call(call: Callable[[], object], count: int, rounds: int = 9) -> float:
    """CPU microseconds per call: the least of ``rounds`` (on a shared machine, the other rounds
    measure the neighbours too: caches, frequency), as timeit does."""
    call()  # warm: connection, crumb
    spent = []
    for _ in range(rounds):
        start = time.thread_time()
        for _ in range(count):
            call()
        spent.append((time.thread_time() - start) / count * 1e6)
    return min(spent)


def bare_get(url: str, path: str) -> Callable[[], object]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port)
    auth = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()}

    def call() -> bytes:
        conn.request("GET", parts.path + path, headers=auth)
        return conn.getresponse().read()

    return call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000, help="requests per round")
    parser.add_argument("--profile", choices=("get", "post"), default=None)
    parser.add_argument("--sort", default="tottime", help="cProfile order (tottime, cumulative)")
    args = parser.parse_args(argv)
    emulator = Emulator()
    try:
        target = HttpTarget(emulator.url, folder_config=render_folder_config, username=USER, token=TOKEN)
        job = job_path("bench-http", None)
        target.create_job(job, CONFIG)
        calls: dict[str, Callable[[], object]] = {
            "get": lambda: target.read_job(job),
            "post": lambda: target.update_job(job, CONFIG),
            "bare http.client GET": bare_get(emulator.url, "job/bench-http/config.xml"),
        }
        if args.profile:
            call = calls[args.profile]
            call()
            profiler = cProfile.Profile(time.thread_time)  # CPU, not the wait for the answer
            profiler.enable()
            for _ in range(args.count):
                call()
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(35)
            return 0
        for name, call in calls.items():
            print(f"{name}: {per_call(call, args.count):.0f} us CPU per request")
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
