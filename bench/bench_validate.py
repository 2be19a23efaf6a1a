"""Benchmark: `provisioner validate` latency in-process and as a whole CLI process.

Run: python bench/bench_validate.py [--iterations N] [--processes N]
Writes bench/RESULTS-validate.md and prints the same text.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provisioner.cli import main as cli_main  # noqa: E402
from provisioner.settings.cron import min_interval_minutes, next_runs, parse_schedule  # noqa: E402
from provisioner.settings.values import validate_values_text  # noqa: E402

VALUES = ROOT / "examples" / "demo-registry" / "deploy-templates" / "values.yaml"
NOW = datetime(2026, 11, 22, 10, tzinfo=UTC)
ORDINARY = [
    "30 19 * * *",
    "0 * * * *",
    "0 2 * * 1-5",
    "@daily",
    "15 3 1,15 * *",
    "0 12 1 * 1",
    "0 0,23 * * *",
]


def timed(fn: Callable[[], object], iterations: int) -> list[float]:
    fn()  # warm-up
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def summary(samples: list[float], unit: str = "ms") -> str:
    scale = 1e3 if unit == "ms" else 1e6
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"median {statistics.median(ordered) * scale:.3f} {unit}, p95 {p95 * scale:.3f} {unit}, "
        f"min {ordered[0] * scale:.3f} {unit} (n={len(ordered)})"
    )


def line(label: str, fn: Callable[[], object], iterations: int, unit: str = "ms") -> str:
    indent = "  " if label.startswith("  ") else ""
    return f"{indent}- {label.strip()}: {summary(timed(fn, iterations), unit)}"


def in_process(iterations: int) -> list[str]:
    from zoneinfo import ZoneInfo

    text = VALUES.read_text()
    lines = [
        line(
            "`validate_values_text(examples values.yaml)`",
            lambda: validate_values_text(text, now=NOW),
            iterations,
        )
    ]
    for sched in ORDINARY:
        parsed = parse_schedule(sched)
        lines.append(
            line(
                f"`min_interval_minutes(parse_schedule({sched!r}))`",
                lambda s=sched: min_interval_minutes(parse_schedule(s)),
                iterations * 5,
                "us",
            )
        )
        lines.append(
            line(
                "  `min_interval_minutes` alone",
                lambda p=parsed: min_interval_minutes(p),
                iterations * 5,
                "us",
            )
        )
    rare = parse_schedule("0 0 29 2 1")
    lines.append(
        line(
            "`min_interval_minutes('0 0 29 2 1')` (leap days OR Mondays)",
            lambda: min_interval_minutes(rare),
            iterations,
            "us",
        )
    )
    weekly_leap = parse_schedule("0 0 */10 2 1")
    lines.append(
        line(
            "`min_interval_minutes('0 0 */10 2 1')` (Mondays that are Feb 1/11/21: 400-year scan)",
            lambda: min_interval_minutes(weekly_leap),
            iterations,
            "us",
        )
    )
    zone = ZoneInfo("Europe/Kiev")
    daily = parse_schedule("30 19 * * *")
    lines.append(
        line(
            "`next_runs('30 19 * * *', Europe/Kiev, count=3)`",
            lambda: next_runs(daily, zone, NOW, 3),
            iterations,
            "us",
        )
    )
    lines.append(
        line(
            "`next_runs('30 19 * * *', Europe/Kiev, count=100)`",
            lambda: next_runs(daily, zone, NOW, 100),
            iterations // 4,
        )
    )
    argv = ["validate", "--values", str(VALUES), "--format", "json", "--now", "2026-11-22T10:00:00Z"]

    def whole_command() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            cli_main(argv)

    lines.append(
        line(
            "whole `validate` command in-process (`cli.main([...])`, JSON out)",
            whole_command,
            iterations // 2,
        )
    )
    return lines


def processes(runs: int) -> tuple[list[str], str]:
    cmd = [
        sys.executable,
        "-m",
        "provisioner",
        "validate",
        "--values",
        str(VALUES.relative_to(ROOT)),
        "--format",
        "json",
    ]
    env = dict(os.environ)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    baseline = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        baseline.append(time.perf_counter() - start)
    shown = " ".join(["python", *cmd[1:]])
    lines = [
        f"- `{shown}`: {summary(samples)}",
        f"- bare interpreter start (`python -c pass`) for comparison: {summary(baseline)}",
    ]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd[1:]],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        rows.append((int(cumulative_us), int(self_us), name))
    # nesting is shown by indentation: top-level imports have a single leading blank
    top_level = sorted((r for r in rows if len(r[2]) - len(r[2].lstrip()) == 1), reverse=True)[:12]
    table = "\n".join(
        f"| {name.strip()} | {cum / 1000:.1f} | {own / 1000:.1f} |" for cum, own, name in top_level
    )
    imports = (
        "Top-level imports by cumulative time (`python -X importtime -m provisioner validate ...`):\n\n"
        "| module | cumulative ms | self ms |\n|---|---|---|\n" + table
    )
    return lines, imports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--processes", type=int, default=10)
    args = parser.parse_args()
    inproc = in_process(args.iterations)
    proc, imports = processes(args.processes)
    text = "\n".join(
        [
            "# validate benchmark",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} "
            f"({os.cpu_count()} CPUs, shared with other jobs), Python {platform.python_version()}.",
            "Command: `python bench/bench_validate.py "
            f"--iterations {args.iterations} --processes {args.processes}`",
            "",
            "## In-process",
            "",
            *inproc,
            "",
            "## Whole CLI process",
            "",
            *proc,
            "",
            imports,
            "",
        ]
    )
    (ROOT / "bench" / "RESULTS-validate.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
