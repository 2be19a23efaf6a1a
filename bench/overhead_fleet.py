"""Whole-run tool CPU of reconcile-all (create, no-op, change), A/B of code trees, interleaved.

What bench_fleet.py's "tool CPU s" column measures (user + system seconds of the tool and its worker
processes, from os.wait4), for one N and the flat layout only, without JJB or the floors, so a code
change can be judged in minutes on a loaded machine: every round runs each tree in turn (A, B, A, B,
...), so load drifts hit both, and the medians are printed per tree and scenario.

    python bench/overhead_fleet.py --count 1000 --rounds 3 --tree base=/tmp/base --tree new=.

Per run it also prints the serial parts (start-up: from the tool's start to the emulator's first
request; wind-down: from its last request to the tool's exit) and the bound that the CPU work of the
run sets on this machine: wall >= (tool CPU + emulator CPU) / CPUs, whatever the tool overlaps.

A tree is a directory holding a ``provisioner`` package (e.g. ``git archive main provisioner | tar
-x -C /tmp/base``); it runs as ``python -m provisioner`` with that directory first on PYTHONPATH.
``LABEL=DIR:P`` runs that tree with ``--processes P`` (default: reconcile-all's own default).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import fleet_setup as fs  # noqa: E402
from fleet_harness import TOKEN, USER, Emulator, Launcher, Run, measure  # noqa: E402

SCENARIOS = ("create", "no-op", "change")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument(
        "--tree", action="append", required=True, help="LABEL=DIR or LABEL=DIR:PROCESSES (repeatable)"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="reconcile-all's report (json: with diffs)"
    )
    args = parser.parse_args(argv)
    trees = []
    for spec in args.tree:
        label, _, rest = spec.partition("=")
        path, _, processes = rest.partition(":")
        trees.append((label, str(Path(path).resolve()), processes))
    scenarios = args.scenarios.split(",")
    emulator = Emulator()
    launcher = Launcher()
    runs: dict[tuple[str, str], list[Run]] = {}
    hour = 19
    try:
        with tempfile.TemporaryDirectory(prefix="overhead-fleet-") as tmp:
            base = Path(tmp)
            registries = fs.make_registries(base, args.count, folder_layout=False)
            fleet = fs.write_fleet(base / "fleet.yaml", registries)
            stderr = base / "stderr.txt"
            for _round in range(args.rounds):
                for label, tree, processes in trees:
                    env = {
                        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                        "PYTHONPATH": tree,
                        "JENKINS_USER": USER,
                        "JENKINS_TOKEN": TOKEN,
                        "LC_ALL": "C.UTF-8",
                    }
                    cmd = [sys.executable, "-m", "provisioner", "reconcile-all", "--fleet", str(fleet)]
                    cmd += ["--jenkins-url", emulator.url, "--workers", str(args.workers)]
                    cmd += ["--format", args.format]
                    if processes:
                        cmd += ["--processes", processes]
                    emulator.reset(jobs=True)
                    for scenario in ("create", "no-op", "change"):
                        if scenario == "change":
                            hour = 3 if hour == 19 else 19
                            fs.change_schedules(registries, hour)
                        run = measure(
                            "reconcile-all", scenario, args.workers, cmd, env, emulator, launcher, stderr
                        )
                        if not run.ok:
                            raise SystemExit(f"{label} {scenario}: {run.note}")
                        if scenario in scenarios:
                            runs.setdefault((label, scenario), []).append(run)
                            print(
                                f"{label:>8} {scenario:>7}: tool CPU {run.cpu:.3f} s, wall {run.wall:.2f} s, "
                                f"emulator CPU {run.server_cpu:.2f} s, start-up {_seconds(run.startup)}, "
                                f"wind-down {_seconds(run.wind_down)}, GET {run.gets} POST {run.posts}, "
                                f"load {os.getloadavg()[0]:.1f}",
                                flush=True,
                            )
    finally:
        launcher.stop()
        emulator.stop()
    cpus = len(os.sched_getaffinity(0))
    print(f"\nMedians of {args.rounds} rounds; CPU bound: (tool CPU + emulator CPU) / {cpus} CPUs.")
    print(
        "\n| tree | scenario | tool CPU s (median) | all runs | wall s (median) | emulator CPU s | "
        "CPU bound s | start-up s | wind-down s |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    for scenario in scenarios:
        for label, _tree, _processes in trees:
            got = runs[(label, scenario)]
            tool = [r.cpu for r in got]
            print(
                f"| {label} | {scenario} | {statistics.median(tool):.3f} | "
                f"{', '.join(f'{c:.2f}' for c in tool)} | {statistics.median(r.wall for r in got):.2f} | "
                f"{statistics.median(r.server_cpu for r in got):.2f} | "
                f"{statistics.median((r.cpu + r.server_cpu) / cpus for r in got):.2f} | "
                f"{_median_seconds([r.startup for r in got])} | "
                f"{_median_seconds([r.wind_down for r in got])} |"
            )
    return 0


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def _median_seconds(values: list[float | None]) -> str:
    known = [value for value in values if value is not None]
    return f"{statistics.median(known):.3f}" if known else "-"


if __name__ == "__main__":
    raise SystemExit(main())
