"""reconcile-all vs Jenkins Job Builder against the project's Jenkins emulator, on loopback.

    python bench/bench_fleet.py           # N = 100 and 1000, flat and folder layouts -> bench/RESULTS.md
    python bench/bench_fleet.py --smoke   # CI: N = 100, correctness only, no timing claims

Both tools run as child processes (wall time, peak RSS of the process tree sampled from /proc and the
largest single process from wait4), against one emulator process (python -m tests.jenkins_emulator,
API token, CSRF on), whose counters give the HTTP requests of each run. Scenarios per N and layout:
cold (empty Jenkins), no-op (nothing changed; JJB with a cold and a warm cache), change (the schedule
of every registry changed by a new commit; JJB with the new jobs file and its warm cache). The floor
is the emulator itself: the same request mix sent by a minimal keep-alive http.client loop.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_setup as fs

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
USER, TOKEN = "bench", "bench-token-7c1e"
ANALYSIS_MARKER = "<!-- analysis: kept when the benchmark is run again -->"


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
    extra: dict[str, object] = field(default_factory=dict)


class Emulator:
    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.jenkins_emulator", "--port", "0", "--user", USER, "--token", TOKEN],
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

    def control(self, method: str, path: str) -> dict[str, object]:
        request = urllib.request.Request(
            self.url + path.lstrip("/"), method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.loads(response.read()))

    def reset(self, jobs: bool = False) -> None:
        self.control("POST", "_emulator/reset" + ("?jobs=1" if jobs else ""))

    def stats(self) -> dict[str, object]:
        return self.control("GET", "_emulator/stats")

    def jobs(self) -> list[str]:
        with urllib.request.urlopen(self.url + "_emulator/jobs", timeout=30) as response:
            return list(json.loads(response.read()))

    def config(self, name: str) -> str:
        with urllib.request.urlopen(
            self.url + "_emulator/config?name=" + urllib.request.quote(name), timeout=30
        ) as r:
            return str(r.read().decode())

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _tree_rss_kb(pid: int) -> int:
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


def measure(
    argv: list[str], env: dict[str, str], emulator: Emulator
) -> tuple[float, float, float, int, int, int, str]:
    """Run argv: wall s, tree peak RSS MB, largest process RSS MB, GETs, POSTs, exit code, stderr tail."""
    emulator.reset()
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=env.get("BENCH_CWD", ROOT)
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stderr is not None
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    by_method = dict(emulator.stats()["byMethod"])  # type: ignore[arg-type]
    return (
        wall,
        peak / 1024,
        usage.ru_maxrss / 1024,
        int(by_method.get("GET", 0)),
        int(by_method.get("POST", 0)),
        proc.returncode,
        err.decode(errors="replace")[-600:],
    )


class Bench:
    def __init__(self, base: Path, count: int, folder_layout: bool, emulator: Emulator) -> None:
        self.base, self.count, self.folder_layout, self.emulator = base, count, folder_layout, emulator
        self.layout = "folder" if folder_layout else "flat"
        self.runs: list[Run] = []
        t0 = time.perf_counter()
        self.registries = fs.make_registries(base, count, folder_layout=folder_layout)
        self.fleet = fs.write_fleet(base / "fleet.yaml", self.registries)
        self.fleet_v1 = fs.write_fleet(base / "fleet-v1.yaml", self.registries, ref="HEAD~1")
        self.jobs_v1 = fs.write_jjb_jobs(base / "jobs-v1.yaml", self.registries)
        self.conf = fs.write_jjb_conf(base / "jjb.ini", emulator.url, USER, TOKEN)
        self.setup_seconds = time.perf_counter() - t0
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "JENKINS_USER": USER,
            "JENKINS_TOKEN": TOKEN,
            "LC_ALL": "C.UTF-8",
        }

    def ours(self, scenario: str, workers: int, fleet: Path | None = None) -> Run:
        argv = [
            str(BIN / "provisioner"),
            "reconcile-all",
            "--fleet",
            str(fleet or self.fleet),
            "--jenkins-url",
            self.emulator.url,
            "--workers",
            str(workers),
            "--format",
            "json",
        ]
        wall, tree, single, gets, posts, code, err = measure(argv, self.env, self.emulator)
        run = Run(
            "reconcile-all",
            scenario,
            workers,
            wall,
            tree,
            single,
            gets,
            posts,
            code == 0,
            "" if code == 0 else err,
        )
        self.runs.append(run)
        return run

    def jjb(self, scenario: str, workers: int, jobs: Path, cache: Path) -> Run:
        cache.mkdir(parents=True, exist_ok=True)
        env = {**self.env, "HOME": str(cache), "XDG_CACHE_HOME": str(cache / ".cache")}
        argv = [
            str(BIN / "jenkins-jobs"),
            "--conf",
            str(self.conf),
            "update",
            "--workers",
            str(workers),
            str(jobs),
        ]
        wall, tree, single, gets, posts, code, err = measure(argv, env, self.emulator)
        note = "" if code == 0 else f"exit {code}: {' '.join(err.split())[-240:]}"
        run = Run("jjb", scenario, workers, wall, tree, single, gets, posts, code == 0, note)
        self.runs.append(run)
        return run

    def job_count(self) -> int:
        return len(self.emulator.jobs())

    def floor(self, scenario: str, posts_per_job: int, reads_per_job: int) -> Run:
        """The emulator alone: the same request mix from one keep-alive http.client connection."""
        self.emulator.reset()
        host, port = self.emulator.url.split("//")[1].rstrip("/").split(":")
        auth = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()}
        conn = http.client.HTTPConnection(host, int(port))
        configs = {
            r.full_name: fs.rendered_config(r) for r in self.registries[: min(50, len(self.registries))]
        }
        start = time.perf_counter()
        conn.request("GET", "/api/json?tree=jobs%5Bname%5D", headers=auth)
        conn.getresponse().read()
        for index, registry in enumerate(self.registries):
            path = "".join(f"/job/{p}" for p in registry.full_name.split("/"))
            body = configs[self.registries[index % len(configs)].full_name].encode()
            for _ in range(posts_per_job):
                conn.request(
                    "POST", path + "/config.xml", body=body, headers={**auth, "Content-Type": "text/xml"}
                )
                conn.getresponse().read()
            for _ in range(reads_per_job):
                conn.request("GET", path + "/config.xml", headers=auth)
                conn.getresponse().read()
        wall = time.perf_counter() - start
        conn.close()
        by_method = dict(self.emulator.stats()["byMethod"])  # type: ignore[arg-type]
        run = Run(
            "emulator floor",
            scenario,
            1,
            wall,
            0,
            0,
            int(by_method.get("GET", 0)),
            int(by_method.get("POST", 0)),
            True,
        )
        self.runs.append(run)
        return run

    def same_jobs(self, sample: int = 20) -> bool:
        """Both tools' jobs have the same facts (JJB only appends its own comment to the description)."""
        from provisioner.config_xml import job_facts

        for registry in self.registries[:sample]:
            ours = job_facts(fs.rendered_config(registry))
            try:
                theirs = job_facts(self.emulator.config(registry.full_name))
            except urllib.error.HTTPError:
                return False
            if (ours.trigger_specs, ours.parameters, ours.disabled) != (
                theirs.trigger_specs,
                theirs.parameters,
                theirs.disabled,
            ):
                return False
            if theirs.description.replace("<!-- Managed by Jenkins Job Builder -->", "") != ours.description:
                return False
        return True

    def run_all(self, ours_workers: list[int], jjb_workers: list[int], smoke: bool) -> dict[str, object]:
        checks: dict[str, object] = {}
        emulator = self.emulator
        # reconcile-all: cold, no-op
        for workers in ours_workers:
            emulator.reset(jobs=True)
            self.ours("cold", workers)
            checks[f"ours cold w{workers} jobs"] = self.job_count()
        best = min(
            (r for r in self.runs if r.tool == "reconcile-all" and r.ok), key=lambda r: r.wall, default=None
        )
        ours_w = best.workers if best else ours_workers[-1]
        noop = self.ours("no-op", ours_w)
        checks["ours no-op POSTs"] = noop.posts
        # JJB: cold at each worker count, then no-op with a cold and a warm cache
        cache = self.base / "jjb-home"
        for workers in jjb_workers:
            emulator.reset(jobs=True)
            shutil.rmtree(cache, ignore_errors=True)
            run = self.jjb("cold (cold cache)", workers, self.jobs_v1, cache)
            checks[f"jjb cold w{workers} jobs"] = self.job_count()
            if run.ok and "same job content (sample)" not in checks:
                checks["same job content (sample)"] = self.same_jobs()
        if not self.runs[-1].ok:  # leave JJB's complete job set in place for its no-op runs (untimed)
            emulator.reset(jobs=True)
            shutil.rmtree(cache, ignore_errors=True)
            self.jjb("setup", 1, self.jobs_v1, cache)
            self.runs.pop()
        shutil.rmtree(cache, ignore_errors=True)
        best_jjb = min((r for r in self.runs if r.tool == "jjb" and r.ok), key=lambda r: r.wall, default=None)
        jjb_w = best_jjb.workers if best_jjb else jjb_workers[0]
        if smoke:
            return checks
        self.jjb("no-op, cold cache", jjb_w, self.jobs_v1, cache)
        self.jjb("no-op, warm cache", jjb_w, self.jobs_v1, cache)
        # change: a new commit in every repository
        fs.change_schedules(self.registries)
        jobs_v2 = fs.write_jjb_jobs(self.base / "jobs-v2.yaml", self.registries)
        self.jjb("change (warm cache)", jjb_w, jobs_v2, cache)
        emulator.reset(jobs=True)
        self.ours("setup v1 (untimed)", ours_w, self.fleet_v1)
        self.runs.pop()
        change = self.ours("change", ours_w)
        checks["ours change POSTs"] = change.posts
        # the floor
        self.floor("cold: create + read back", 1, 1)
        self.floor("no-op: read every config", 0, 1)
        self.floor("change: read + write + read back", 1, 2)
        return checks


def _ratio(slow: Run | None, fast: Run | None) -> str:
    if slow is None or fast is None or not slow.ok or not fast.ok or fast.wall <= 0:
        return "n/a"
    return f"{slow.wall / fast.wall:.1f}x"


def _pick(runs: list[Run], tool: str, scenario: str) -> Run | None:
    found = [r for r in runs if r.tool == tool and r.scenario.startswith(scenario) and r.ok]
    return min(found, key=lambda r: r.wall) if found else None


def report(bench: Bench, checks: dict[str, object]) -> list[str]:
    lines = [f"### N = {bench.count}, {bench.layout} layout", ""]
    lines.append(
        f"Set-up (untimed): {bench.count} git repositories, fleet file, JJB jobs file "
        f"in {bench.setup_seconds:.1f} s."
    )
    lines += [
        "",
        "| tool | scenario | workers | wall s | GET | POST | peak RSS tree MB | largest process MB "
        "| result |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in bench.runs:
        result = "ok" if r.ok else f"FAILED: {r.note}"
        rss = f"{r.rss_tree_mb:.0f}" if r.rss_tree_mb else "-"
        big = f"{r.rss_max_mb:.0f}" if r.rss_max_mb else "-"
        lines.append(
            f"| {r.tool} | {r.scenario} | {r.workers} | {r.wall:.2f} | {r.gets} | {r.posts} | {rss} | {big} "
            f"| {result} |"
        )
    runs = bench.runs
    ours_cold, ours_noop, ours_change = (
        _pick(runs, "reconcile-all", "cold"),
        _pick(runs, "reconcile-all", "no-op"),
        _pick(runs, "reconcile-all", "change"),
    )
    jjb_cold = _pick(runs, "jjb", "cold")
    lines += [
        "",
        "| comparison | JJB / reconcile-all | target |",
        "|---|---:|---|",
        f"| cold (each at its best workers) | {_ratio(jjb_cold, ours_cold)} | >= 4x |",
        f"| no-op vs JJB cold cache | {_ratio(_pick(runs, 'jjb', 'no-op, cold'), ours_noop)} | >= 4x |",
        "| no-op vs JJB warm cache (JJB checks nothing) | "
        f"{_ratio(_pick(runs, 'jjb', 'no-op, warm'), ours_noop)} | >= 2x |",
        f"| change | {_ratio(_pick(runs, 'jjb', 'change'), ours_change)} | >= 4x |",
        "",
        "| reconcile-all vs the emulator floor | reconcile-all / floor |",
        "|---|---:|",
        f"| cold | {_ratio(ours_cold, _pick(runs, 'emulator floor', 'cold'))} |",
        f"| no-op | {_ratio(ours_noop, _pick(runs, 'emulator floor', 'no-op'))} |",
        f"| change | {_ratio(ours_change, _pick(runs, 'emulator floor', 'change'))} |",
        "",
    ]
    lines.append("Checks: " + "; ".join(f"{k}: {v}" for k, v in checks.items()))
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--layouts", default="flat,folder")
    parser.add_argument("--ours-workers", default="4,8,16")
    parser.add_argument("--jjb-workers", default="1,4,8")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument(
        "--smoke", action="store_true", help="N=100, correctness checks only, no results file"
    )
    args = parser.parse_args(argv)
    sizes = [100] if args.smoke else [int(s) for s in args.sizes.split(",")]
    ours_workers = [int(w) for w in args.ours_workers.split(",")]
    jjb_workers = [1] if args.smoke else [int(w) for w in args.jjb_workers.split(",")]
    body: list[str] = []
    failures: list[str] = []
    emulator = Emulator()
    try:
        for count in sizes:
            for layout in args.layouts.split(","):
                with tempfile.TemporaryDirectory(prefix=f"bench-fleet-{count}-{layout}-") as tmp:
                    bench = Bench(Path(tmp), count, layout == "folder", emulator)
                    layout_jjb = (
                        jjb_workers if layout == "flat" or args.smoke else sorted({1, *jjb_workers} & {1, 4})
                    )
                    checks = bench.run_all(ours_workers, layout_jjb, args.smoke)
                    print("\n".join(report(bench, checks)), flush=True)
                    body += report(bench, checks)
                    expected = count
                    if checks.get("ours no-op POSTs") != 0:
                        failures.append(f"{count} {layout}: reconcile-all no-op made POSTs")
                    if any(checks.get(f"ours cold w{w} jobs") != expected for w in ours_workers):
                        failures.append(f"{count} {layout}: reconcile-all cold did not create every job")
                    if not any(r.ok for r in bench.runs if r.tool == "reconcile-all"):
                        failures.append(f"{count} {layout}: reconcile-all failed")
                    if layout == "flat" and checks.get("same job content (sample)") is not True:
                        failures.append(f"{count} {layout}: the tools' jobs differ")
    finally:
        emulator.stop()
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    if not args.smoke:
        version = subprocess.run([str(BIN / "jenkins-jobs"), "--version"], capture_output=True, text=True)
        jjb_version = (version.stdout or version.stderr).strip() or "Jenkins Job Builder (version unknown)"
        head = [
            "# Fleet benchmark: `provisioner reconcile-all` vs Jenkins Job Builder",
            "",
            f"Command: `python bench/bench_fleet.py --sizes {args.sizes} --layouts {args.layouts} "
            f"--ours-workers {args.ours_workers} --jjb-workers {args.jjb_workers}`",
            f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}, "
            f"{jjb_version}. The tools and the emulator (a threaded Python HTTP server) share it.",
            "",
        ]
        # A hand-written analysis below the marker survives a new run of the benchmark.
        previous = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        kept = previous[previous.index(ANALYSIS_MARKER) :] if ANALYSIS_MARKER in previous else ""
        args.out.write_text("\n".join(head + body) + "\n" + kept, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
