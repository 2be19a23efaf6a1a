"""reconcile-all vs Jenkins Job Builder against the project's Jenkins emulator, on loopback.

    python bench/bench_fleet.py           # N = 100 and 1000, flat and folder layouts -> bench/RESULTS.md
    python bench/bench_fleet.py --smoke   # CI: N = 100, correctness only, no timing claims

reconcile-all runs as the README shows it (the text report). Both tools run as child processes
(wall time and largest-process RSS from os.wait4, peak RSS of the process tree sampled from /proc)
against one emulator process (python -m tests.jenkins_emulator, API token, CSRF on), reset before
every run; its counters give each run's HTTP requests and /proc its CPU time. Per N and layout: cold
(empty Jenkins), no-op (nothing changed; JJB with a cold and a warm cache), change (the schedule of
every registry changed by a new commit; JJB with the regenerated jobs file and its warm cache;
reconcile-all once more with --format json, whose report carries each change's diff), and the floor:
the emulator alone, fed the same request mix by a minimal keep-alive http.client loop. Both tools'
jobs are compared on a sample (job_facts and the normalized config.xml). --repeat R runs everything
R times on fresh set-ups and reports medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_report as fr
import fleet_setup as fs
from fleet_harness import ROOT, TOKEN, USER, Emulator, FloorClient, FloorJob, Launcher, Run, measure

from provisioner.jobs.render import render_folder_config

BIN = Path(sys.executable).parent
SAMPLE = 20  # jobs whose live config.xml both tools must agree on
JJB = fr.JJB  # JJB with one job per registry written out (what bench/ generated first)
JJB_TEMPLATE = fr.JJB_TEMPLATE  # JJB as its users write it: one job-template, one project per registry
TEMPLATE_EQUAL = "jjb template+projects: normalized config.xml equal to ours once JJB's comment is removed"


class Bench:
    """One N and layout: the set-up and every scenario, on fresh repositories."""

    def __init__(
        self,
        base: Path,
        count: int,
        folder_layout: bool,
        emulator: Emulator,
        launcher: Launcher,
        jjb: bool = True,
    ) -> None:
        self.base, self.count, self.folder_layout, self.emulator = base, count, folder_layout, emulator
        self.launcher = launcher
        self.runs: list[Run] = []
        self.checks: dict[str, object] = {}
        t0 = time.perf_counter()
        self.registries = fs.make_registries(base, count, folder_layout=folder_layout)
        self.fleet = fs.write_fleet(base / "fleet.yaml", self.registries)
        self.fleet_v1 = fs.write_fleet(base / "fleet-v1.yaml", self.registries, ref="HEAD~1")
        if jjb:
            self.jobs_v1 = fs.write_jjb_jobs(base / "jobs-v1.yaml", self.registries)
            self.templates_v1 = fs.write_jjb_template_jobs(base / "templates-v1.yaml", self.registries)
        self.conf = fs.write_jjb_conf(base / "jjb.ini", emulator.url, USER, TOKEN)
        self.setup_seconds = time.perf_counter() - t0
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "JENKINS_USER": USER,
            "JENKINS_TOKEN": TOKEN,
            "LC_ALL": "C.UTF-8",
        }
        self.ours_sample: dict[str, str] = {}
        # one keep-alive connection for the floor, unless every answer is delayed (then as many
        # connections as reconcile-all's default HTTP threads would not be enough to show the CPU)
        self.floor_connections = 1 if not emulator.latency_ms else 16

    # ------------------------------------------------------------------------------------ runs
    def ours(
        self, scenario: str, workers: int, fleet: Path | None = None, keep: bool = True, json: bool = False
    ) -> Run:
        """reconcile-all as the README shows it (the text report), or with ``json`` its JSON report,
        which also carries the diff of every change (computed only for that report)."""
        argv = [str(BIN / "provisioner"), "reconcile-all", "--fleet", str(fleet or self.fleet)]
        argv += ["--jenkins-url", self.emulator.url, "--workers", str(workers)]
        argv += ["--format", "json"] if json else []
        run = self._measure("reconcile-all", scenario, workers, argv, self.env)
        if keep:
            self.runs.append(run)
        return run

    def jjb(
        self, scenario: str, workers: int, jobs: Path, cache: Path, keep: bool = True, tool: str = JJB
    ) -> Run:
        """jenkins-jobs update with HOME and XDG_CACHE_HOME under ``cache`` (remove it: cold cache)."""
        cache.mkdir(parents=True, exist_ok=True)
        env = {**self.env, "HOME": str(cache), "XDG_CACHE_HOME": str(cache / ".cache")}
        argv = [str(BIN / "jenkins-jobs"), "--conf", str(self.conf), "update", "--workers", str(workers)]
        run = self._measure(tool, scenario, workers, [*argv, str(jobs)], env)
        if keep:
            self.runs.append(run)
        return run

    def _measure(self, tool: str, scenario: str, workers: int, argv: list[str], env: dict[str, str]) -> Run:
        stderr = self.base / "stderr.txt"
        return measure(tool, scenario, workers, argv, env, self.emulator, self.launcher, stderr)

    # ---------------------------------------------------------------------------------- checks
    def counted(self, label: str) -> None:
        """Record how many jobs and folders the emulator holds now."""
        stats = self.emulator.stats()
        self.checks[label] = f"{stats['jobs']} jobs" + (
            f" + {stats['folders']} folders" if self.folder_layout else ""
        )

    def all_created(self) -> bool:
        stats = self.emulator.stats()
        return stats["jobs"] == self.count and stats["folders"] == (self.count if self.folder_layout else 0)

    def live_sample(self) -> dict[str, str]:
        names = [r.full_name for r in self.registries[:SAMPLE]]
        if self.folder_layout:
            names.append(self.registries[0].folder or "")
        return {name: self.emulator.config(name) for name in names}

    def compare_with_ours(self, theirs: dict[str, str]) -> None:
        """JJB's live jobs against reconcile-all's live jobs (same registries, same commits)."""
        jobs = [r.full_name for r in self.registries[:SAMPLE]]
        mine = {n: self.ours_sample[n] for n in jobs}
        plain = {n: fs.without_jjb_magic(theirs[n]) for n in jobs}
        diffs = {n: fs.job_differences(mine[n], plain[n]) for n in jobs}
        facts = sum(fs.same_facts(mine[n], plain[n]) for n in jobs)
        self.checks["job_facts equal (ours vs JJB, live)"] = f"{facts}/{len(jobs)}"
        self.checks["normalized config.xml equal once JJB's description comment is removed"] = (
            f"{sum(not d for d in diffs.values())}/{len(jobs)}"
        )
        self.checks["job residual differences"] = (
            list(dict.fromkeys(x for d in diffs.values() for x in d)) or "none"
        )
        if self.folder_layout:
            folder = self.registries[0].folder or ""
            diff = fs.job_differences(self.ours_sample[folder], theirs[folder])
            top = {sign: sorted({_tag(x) for x in diff if x.startswith(sign + "  <")}) for sign in "-+"}
            self.checks["folder config (ours vs JJB `folder`), top-level elements that differ"] = (
                f"only or different in ours: {', '.join(top['-'])}; in JJB's: {', '.join(top['+'])}"
                if diff
                else "none"
            )

    def schedules_applied(self, label: str) -> None:
        """After a change run: the sampled live jobs carry the facts rendered from HEAD."""
        good = sum(
            fs.same_facts(fs.rendered_config(r), fs.without_jjb_magic(self.emulator.config(r.full_name)))
            for r in self.registries[:SAMPLE]
        )
        self.checks[label] = f"{good}/{min(SAMPLE, self.count)}"

    # ------------------------------------------------------------------------------- scenarios
    def jjb_templates_cold(self, workers: int) -> Path:
        """JJB with one job-template and a project per registry (v1, written at set-up), cold cache,
        into an empty Jenkins; its live jobs are compared with ours."""
        cache = self.base / "jjb-template-home"
        self.emulator.reset(jobs=True)
        shutil.rmtree(cache, ignore_errors=True)
        self.jjb("cold (cold cache)", workers, self.templates_v1, cache, tool=JJB_TEMPLATE)
        self.counted("jjb template+projects cold created")
        if self.ours_sample:
            theirs = self.live_sample()
            jobs = [r.full_name for r in self.registries[:SAMPLE]]
            plain = {n: fs.without_jjb_magic(theirs[n]) for n in jobs}
            same = sum(not fs.job_differences(plain[n], self.ours_sample[n]) for n in jobs)
            self.checks[TEMPLATE_EQUAL] = f"{same}/{len(jobs)}"
        return cache

    def jjb_templates(self, workers: int, templates_v2: Path) -> None:
        """The template variant's no-op (cold and warm cache) and change: with a warm cache (JJB posts
        only jobs whose rendered XML changed and reads nothing) and with a cold cache (it posts every
        job, checks nothing)."""
        cache = self.base / "jjb-template-home"
        shutil.rmtree(cache, ignore_errors=True)
        self.jjb("no-op, cold cache", workers, self.templates_v1, cache, tool=JJB_TEMPLATE)
        self.jjb("no-op, warm cache", workers, self.templates_v1, cache, tool=JJB_TEMPLATE)
        self.jjb("change (warm cache)", workers, templates_v2, cache, tool=JJB_TEMPLATE)
        self.schedules_applied("jjb template+projects change: sampled jobs carry the new schedule")
        self.emulator.reset(jobs=True)
        shutil.rmtree(cache, ignore_errors=True)
        self.jjb("setup v1", workers, self.templates_v1, cache, keep=False, tool=JJB_TEMPLATE)
        shutil.rmtree(cache, ignore_errors=True)
        self.jjb("change (cold cache)", workers, templates_v2, cache, tool=JJB_TEMPLATE)

    def run_all(
        self, ours_workers: list[int], jjb_workers: list[int], smoke: bool, fixed: tuple[int, int] | None
    ) -> tuple[int, int]:
        """Every scenario; no-op and change at the best cold workers (or ``fixed``, from an earlier
        repeat, so repeats stay comparable). Returns the workers used: (reconcile-all, JJB)."""
        emulator = self.emulator
        for workers in ours_workers:
            emulator.reset(jobs=True)
            run = self.ours("cold", workers)
            self.counted(f"reconcile-all cold w{workers} created")
            if run.ok and not self.all_created():
                run.ok, run.note = False, "not every job/folder created"
            if run.ok and not self.ours_sample:
                self.ours_sample = self.live_sample()
        best = fr.best(self.runs, "reconcile-all", "cold")
        ours_w = fixed[0] if fixed else best.workers if best else ours_workers[-1]
        self.checks["reconcile-all no-op POSTs"] = self.ours("no-op", ours_w).posts
        cache = self.base / "jjb-home"
        for workers in jjb_workers:
            emulator.reset(jobs=True)
            shutil.rmtree(cache, ignore_errors=True)
            run = self.jjb("cold (cold cache)", workers, self.jobs_v1, cache)
            self.counted(f"jjb cold w{workers} created")
            if run.ok and self.ours_sample and "job_facts equal (ours vs JJB, live)" not in self.checks:
                self.compare_with_ours(self.live_sample())
        if not self.runs[-1].ok or not self.all_created():
            # leave JJB's complete job set in place for its no-op runs (untimed)
            emulator.reset(jobs=True)
            shutil.rmtree(cache, ignore_errors=True)
            self.jjb("setup", 1, self.jobs_v1, cache, keep=False)
        shutil.rmtree(cache, ignore_errors=True)
        best_jjb = fr.best(self.runs, JJB, "cold")
        jjb_w = fixed[1] if fixed else best_jjb.workers if best_jjb else jjb_workers[0]
        if smoke:
            self.jjb_templates_cold(jjb_w)
            return ours_w, jjb_w
        self.jjb("no-op, cold cache", jjb_w, self.jobs_v1, cache)
        self.jjb("no-op, warm cache", jjb_w, self.jobs_v1, cache)
        fs.change_schedules(self.registries)  # a new commit in every repository
        jobs_v2 = fs.write_jjb_jobs(self.base / "jobs-v2.yaml", self.registries)
        templates_v2 = fs.write_jjb_template_jobs(self.base / "templates-v2.yaml", self.registries)
        self.jjb("change (warm cache)", jjb_w, jobs_v2, cache)
        self.schedules_applied("jjb change: sampled jobs carry the new schedule")
        self.jjb_templates_cold(jjb_w)
        self.jjb_templates(jjb_w, templates_v2)
        emulator.reset(jobs=True)
        self.ours("setup v1", ours_w, self.fleet_v1, keep=False)
        self.checks["reconcile-all change POSTs"] = self.ours("change", ours_w).posts
        self.schedules_applied("reconcile-all change: sampled jobs carry the new schedule")
        emulator.reset(jobs=True)
        self.ours("setup v1", ours_w, self.fleet_v1, keep=False)
        json_change = self.ours(fr.JSON_CHANGE, ours_w, json=True)
        self.checks["reconcile-all change, JSON report POSTs"] = json_change.posts
        floor = FloorClient(emulator, render_folder_config("folder").encode(), self.floor_connections)
        jobs = [FloorJob(r.full_name, fs.rendered_config(r).encode()) for r in self.registries]
        self.runs += [floor.cold(jobs), floor.noop(jobs), floor.change(jobs), floor.change_written(jobs)]
        return ours_w, jjb_w


def scale(base: Path, count: int, emulator: Emulator, launcher: Launcher, workers: int) -> Bench:
    """reconcile-all alone on a large fleet (flat): cold and no-op, no JJB, no floor."""
    bench = Bench(base, count, False, emulator, launcher, jjb=False)
    emulator.reset(jobs=True)
    run = bench.ours("cold", workers)
    bench.counted(f"reconcile-all cold w{workers} created")
    if run.ok and not bench.all_created():
        run.ok, run.note = False, "not every job created"
    bench.checks["reconcile-all no-op POSTs"] = bench.ours("no-op", workers).posts
    return bench


def _tag(diff_line: str) -> str:
    """The element name of a normalized-diff line such as '-  <views class="...">'."""
    return diff_line[1:].strip().lstrip("<").split(">")[0].split(" ")[0]


def smoke_failures(bench: Bench, count: int, layout: str) -> list[str]:
    failures = []
    where = f"N={count} {layout}"
    ours = [r for r in bench.runs if r.tool == "reconcile-all"]
    if not ours or not all(r.ok for r in ours):
        failures.append(f"{where}: reconcile-all failed: {[r.note for r in ours if not r.ok]}")
    if bench.checks.get("reconcile-all no-op POSTs") != 0:
        failures.append(f"{where}: reconcile-all no-op made POSTs")
    if bench.checks.get(TEMPLATE_EQUAL) != f"{SAMPLE}/{SAMPLE}":
        failures.append(f"{where}: JJB's template jobs differ from ours: {bench.checks.get(TEMPLATE_EQUAL)}")
    if bench.checks.get("job_facts equal (ours vs JJB, live)") != f"{SAMPLE}/{SAMPLE}":
        failures.append(f"{where}: the tools' jobs differ: {bench.checks.get('job residual differences')}")
    expected = f"{count} jobs" + (f" + {count} folders" if layout == "folder" else "")
    for label, value in bench.checks.items():
        if label.endswith("w1 created") and value != expected:
            failures.append(f"{where}: {label}: {value}")
    for label in (
        "reconcile-all change: sampled jobs carry the new schedule",
        "jjb change: sampled jobs carry the new schedule",
    ):
        if label in bench.checks and bench.checks[label] != f"{SAMPLE}/{SAMPLE}":
            failures.append(f"{where}: {label}: {bench.checks[label]}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--layouts", default="flat,folder")
    parser.add_argument("--ours-workers", default="1,4,8,16", help="reconcile-all --workers to try (cold)")
    parser.add_argument(
        "--jjb-workers", default="1,4,8,16", help="JJB --workers to try (cold; folder: 1 and 4)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="run everything R times, report medians")
    parser.add_argument(
        "--latency-ms",
        default="0",
        help="comma list: run everything against an emulator answering every request this much later",
    )
    parser.add_argument(
        "--delayed-layouts",
        default=None,
        help="layouts run against a delayed emulator (each --latency-ms but the first; default --layouts)",
    )
    parser.add_argument(
        "--scale",
        default="",
        help="comma list of N for reconcile-all alone (flat, cold and no-op, no JJB, one run, first "
        "--latency-ms only), e.g. 10000",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument(
        "--smoke", action="store_true", help="N=100, correctness checks only, no results file"
    )
    args = parser.parse_args(argv)
    command = shlex.join(["python", "bench/bench_fleet.py", *(sys.argv[1:] if argv is None else argv)])
    sizes = [100] if args.smoke else [int(s) for s in args.sizes.split(",") if s]
    ours_workers = [16] if args.smoke else [int(w) for w in args.ours_workers.split(",")]
    jjb_workers = [1] if args.smoke else [int(w) for w in args.jjb_workers.split(",")]
    repeat = 1 if args.smoke else max(1, args.repeat)
    load_before = os.getloadavg()
    body: list[str] = []
    summary: list[fr.Row] = []
    failures: list[str] = []
    launcher = Launcher()  # first, while this process is small
    latencies = [float(x) for x in args.latency_ms.split(",")]
    for latency in latencies:
        emulator = Emulator(latency)
        try:
            for count in sizes:
                delayed = latency != latencies[0] and args.delayed_layouts
                for layout in (args.delayed_layouts if delayed else args.layouts).split(","):
                    benches: list[Bench] = []
                    fixed: tuple[int, int] | None = None
                    layout_jjb = jjb_workers if layout == "flat" or args.smoke else [1, 4]
                    for _ in range(repeat):
                        with tempfile.TemporaryDirectory(prefix=f"bench-fleet-{count}-{layout}-") as tmp:
                            bench = Bench(Path(tmp), count, layout == "folder", emulator, launcher)
                            fixed = bench.run_all(ours_workers, layout_jjb, args.smoke, fixed)
                            failures += smoke_failures(bench, count, layout)
                            benches.append(bench)
                    section, rows = fr.section(count, fr.layout_label(layout, latency), benches)
                    print("\n".join(section), flush=True)
                    body += section
                    summary += rows
            scales = (
                [] if args.smoke or latency != latencies[0] else [int(n) for n in args.scale.split(",") if n]
            )
            for count in scales:
                with tempfile.TemporaryDirectory(prefix=f"bench-fleet-scale-{count}-") as tmp:
                    benches = [scale(Path(tmp), count, emulator, launcher, max(ours_workers))]  # one run
                section, rows = fr.section(count, fr.layout_label("flat", latency), benches)
                print("\n".join(section), flush=True)
                body += section
                summary += rows
        finally:
            emulator.stop()
    launcher.stop()
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    if args.smoke:
        print("smoke: OK (correctness only; the timings above are not checked)")
        return 0
    version = subprocess.run([str(BIN / "jenkins-jobs"), "--version"], capture_output=True, text=True)
    jjb_version = " ".join((version.stdout or version.stderr).split()) or "JJB version unknown"
    machine = (
        f"Machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {platform.platform()}, "
        f"Python {platform.python_version()}, {jjb_version}; load average before the run "
        f"{load_before[0]:.2f}. The tools and the emulator (a threaded Python HTTP server) share the CPUs."
    )
    table = fr.summary_table(summary)
    print("\n".join(table))
    fr.write_results(args.out, command, machine, repeat, table, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
