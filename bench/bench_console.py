"""The admin console under load: wrk against `provisioner console` (uvicorn) on loopback.

    python bench/bench_console.py                # 50 connections, 20 s each -> bench/RESULTS-console.md
    python bench/bench_console.py --duration 5   # shorter
    python bench/bench_console.py --smoke        # 2 s, no results file: the set-up and the wrk parsing work

The console runs as a child process exactly as an operator starts it (one uvicorn worker, the
registry's git checkout, an archive store with 10 real backups, sign-in from a trusted proxy address),
and wrk (Debian's) drives it with 50 keep-alive connections from one thread (the other core is the
server's). Measured per endpoint: requests per second, latency percentiles (wrk --latency), non-2xx
answers and socket errors, and the server's CPU time per request (from /proc: what a request costs
whatever else the machine is doing). Targets: p99 under 25 ms, no errors.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner.backup.cli import main as backup_main  # noqa: E402

HEADERS = {"X-Forwarded-User": "bench", "X-Forwarded-Email": "bench@example.com"}
PREVIEW = {"enabled": True, "schedule": "30 3 * * *", "expiresInDays": 14, "timeZone": "Europe/Kiev"}
TARGET_P99_MS = 25.0
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _git(repo: Path, *args: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo),
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    subprocess.run(
        [shutil.which("git") or "/usr/bin/git", *args], cwd=repo, env=env, check=True, capture_output=True
    )


def set_up(base: Path) -> tuple[Path, Path]:
    repo, store, data = base / "repo", base / "store", base / "data"
    (repo / "deploy-templates").mkdir(parents=True)
    shutil.copy(ROOT / "examples/demo-registry/deploy-templates/values.yaml", repo / "deploy-templates")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "values")
    store.mkdir()
    data.mkdir()
    (data / "records.csv").write_text("id,name\n1,bench\n")
    now = datetime.now(UTC).replace(microsecond=0)
    for day in range(10):
        at = (now - timedelta(days=day, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        argv = ["run", "--registry", "demo", "--expires-in-hours", "720", "--source", str(data)]
        assert backup_main([*argv, "--store", str(store), "--now", at, "--no-prune"]) == 0
    return repo, store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_console(repo: Path, store: Path, port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "provisioner", "console", "--repo", str(repo), "--registry", "demo"]
    argv += ["--store", str(store), "--listen", f"127.0.0.1:{port}", "--auth-proxy", "127.0.0.1/32"]
    server = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(
        "the console did not start: " + (server.stderr.read() if server.stderr else b"").decode()
    )


def lua_script(path: Path, method: str, body: dict[str, object] | None) -> Path:
    lines = [f'wrk.method = "{method}"']
    for name, value in HEADERS.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    if body is not None:
        lines.append('wrk.headers["Content-Type"] = "application/json"')
        lines.append(f"wrk.body = {json.dumps(json.dumps(body))}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    assert match is not None, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(out: str) -> dict[str, float]:
    found: dict[str, float] = {"non2xx": 0.0, "socket_errors": 0.0}
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        assert match is not None, out
        found[f"p{pct}"] = _ms(match.group(1))
    found["rps"] = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    found["requests"] = float(re.search(r"([0-9]+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+([0-9]+)", out)
    if non2xx:
        found["non2xx"] = float(non2xx.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        found["socket_errors"] = float(sum(int(g) for g in errors.groups()))
    return found


def run_wrk(
    url: str, script: Path, connections: int, seconds: int
) -> tuple[list[str], dict[str, float], str]:
    argv = [shutil.which("wrk") or "/usr/bin/wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    argv += ["-s", str(script), url]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60)
    return argv, parse_wrk(done.stdout), done.stdout


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc), to report CPU per request."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per endpoint (default 20)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="2 s per endpoint, no results file")
    args = parser.parse_args()
    seconds = 2 if args.smoke else args.duration
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        base = Path(tmp)
        repo, store = set_up(base)
        port = free_port()
        server = start_console(repo, store, port)
        try:
            url = f"http://127.0.0.1:{port}"
            cases = [
                (
                    "POST /api/v1/preview",
                    f"{url}/api/v1/preview",
                    lua_script(base / "p.lua", "POST", PREVIEW),
                ),
                (
                    "GET /api/v1/registries/demo",
                    f"{url}/api/v1/registries/demo",
                    lua_script(base / "g.lua", "GET", None),
                ),
                (
                    "GET /registries/demo (page)",
                    f"{url}/registries/demo",
                    lua_script(base / "h.lua", "GET", None),
                ),
            ]
            results = []
            for name, target, script in cases:
                run_wrk(target, script, args.connections, 1)  # warm-up
                cpu_before = cpu_seconds(server.pid)
                argv, figures, raw = run_wrk(target, script, args.connections, seconds)
                figures["cpu_us"] = (cpu_seconds(server.pid) - cpu_before) / figures["requests"] * 1e6
                results.append((name, argv, figures, raw))
                print(
                    f"{name}: {figures['rps']:.0f} req/s, p50 {figures['p50']:.2f} ms, "
                    f"p99 {figures['p99']:.2f} ms, server CPU {figures['cpu_us']:.0f} us/request, "
                    f"non-2xx {figures['non2xx']:.0f}, socket errors {figures['socket_errors']:.0f}"
                )
        finally:
            server.terminate()
            server.wait(10)
    if not args.smoke:
        write_results(results, args.connections, seconds, load_before, os.getloadavg())
    failed = [r for r in results if r[2]["non2xx"] or r[2]["socket_errors"]]
    return 1 if failed else 0


def write_results(
    results: list[tuple[str, list[str], dict[str, float], str]],
    connections: int,
    seconds: int,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    lines = [
        "# Admin console under load (wrk, loopback)",
        "",
        f"Run: `python bench/bench_console.py --duration {seconds}` on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}), "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        f"Load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (the machine is shared).",
        "",
        "`provisioner console` (one uvicorn worker) serves a checkout of the example registry and an "
        f"archive store with 10 backups; wrk drives it with {connections} keep-alive connections from "
        "one thread, "
        f"{seconds} s per endpoint after a 1 s warm-up. Target: p99 < {TARGET_P99_MS:.0f} ms, no errors.",
        "",
        "| endpoint | requests/s | p50 ms | p90 ms | p99 ms | non-2xx | socket errors "
        "| server CPU per request | p99 target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, _argv, f, _raw in results:
        verdict = "met" if f["p99"] < TARGET_P99_MS else "**missed**"
        lines.append(
            f"| {name} | {f['rps']:.0f} | {f['p50']:.2f} | {f['p90']:.2f} | {f['p99']:.2f} | "
            f"{f['non2xx']:.0f} | {f['socket_errors']:.0f} | {f['cpu_us']:.0f} us | {verdict} |"
        )
    lines += ["", "Commands (wrk argv per endpoint; the Lua scripts set the method, headers and body):", ""]
    lines += [f"    {' '.join(argv)}" for _name, argv, _f, _raw in results]
    lines += ["", "Raw wrk output:", ""]
    for name, _argv, _f, raw in results:
        lines += [f"{name}:", "", *[f"    {line}" for line in raw.rstrip().splitlines()], ""]
    (ROOT / "bench" / "RESULTS-console.md").write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
