"""``python -m tests.jenkins_emulator --port 0 [--no-csrf] [--user U --password P --token T] [--realistic]``
``[--latency-ms MS]``

Prints ``URL http://127.0.0.1:PORT/`` (flushed) and serves until SIGTERM/SIGINT.
Secrets can also come from the environment: EMULATOR_PASSWORD, EMULATOR_TOKEN.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from .server import JenkinsEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.jenkins_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-csrf", action="store_true", help="crumb issuer answers 404, no crumb checks")
    parser.add_argument("--user", help="user name (security on)")
    parser.add_argument("--password", help="password of --user (or env EMULATOR_PASSWORD)")
    parser.add_argument("--token", help="API token of --user (or env EMULATOR_TOKEN)")
    realism = parser.add_mutually_exclusive_group()
    realism.add_argument(
        "--realistic",
        dest="realistic",
        action="store_true",
        default=True,
        help="re-serialize config.xml like Jenkins, drop invalid timer triggers (default)",
    )
    realism.add_argument("--plain", dest="realistic", action="store_false", help="store config.xml as posted")
    parser.add_argument("--anonymous-read", action="store_true")
    parser.add_argument("--jenkins-version", default="2.479.1")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="answer every request this much later (a Jenkins across a network; benchmarks)",
    )
    args = parser.parse_args(argv)

    users: dict[str, str] = {}
    tokens: dict[str, str] = {}
    password = args.password or os.environ.get("EMULATOR_PASSWORD")
    token = args.token or os.environ.get("EMULATOR_TOKEN")
    if args.user:
        if password:
            users[args.user] = password
        if token:
            tokens[args.user] = token
        if not users and not tokens:
            parser.error("--user needs --password or --token")
    emulator = JenkinsEmulator(
        users=users,
        api_tokens=tokens,
        csrf=not args.no_csrf,
        realistic=args.realistic,
        anonymous_read=args.anonymous_read,
        version=args.jenkins_version,
        host=args.host,
        port=args.port,
        latency=args.latency_ms / 1000,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator.start()
    print(f"URL {emulator.url}", flush=True)
    try:
        stop.wait()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
