"""Report side of bench_fleet.py: runs aggregated over repeats, markdown tables, bench/RESULTS.md."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fleet_harness import Run


class Bench(Protocol):
    """What the report reads of one measured N and layout (bench_fleet.Bench)."""

    runs: list[Run]
    checks: dict[str, object]
    setup_seconds: float


ANALYSIS_MARKER = "<!-- analysis: kept when the benchmark is run again -->"
JJB = "jjb, expanded jobs"  # one JJB job per registry written out
JJB_TEMPLATE = "jjb, template + projects"  # one job-template and one project per registry
# reconcile-all's change again, with --format json (its report carries each change's diff); not
# "change ..." so that best(runs, "reconcile-all", "change") keeps meaning the default text report
JSON_CHANGE = "JSON report: change"


def layout_label(layout: str, latency_ms: float) -> str:
    return layout if not latency_ms else f"{layout}, +{latency_ms:g} ms per request"


def best(runs: list[Run], tool: str, scenario: str) -> Run | None:
    """The fastest successful run of a tool whose scenario starts with ``scenario``."""
    found = [r for r in runs if r.tool == tool and r.scenario.startswith(scenario) and r.ok]
    return min(found, key=lambda r: r.wall) if found else None


@dataclass
class Row:
    count: int
    layout: str
    measure: str
    ours: str
    other: str
    ratio: str
    target: str
    met: str


def _spread(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def aggregate(benches: Sequence[Bench]) -> tuple[list[Run], list[str]]:
    """One Run per (tool, scenario, workers): median wall and emulator CPU, largest RSS, all ok;
    plus the displayed GET/POST/range columns (a range when repeats disagree)."""
    groups: dict[tuple[str, str, int], list[Run]] = {}
    for bench in benches:
        for run in bench.runs:
            groups.setdefault((run.tool, run.scenario, run.workers), []).append(run)
    merged: list[Run] = []
    lines: list[str] = []
    for (tool, scenario, workers), runs in groups.items():
        wall = statistics.median(r.wall for r in runs)
        failed = [r for r in runs if not r.ok]
        run = Run(
            tool,
            scenario,
            workers,
            wall,
            max(r.rss_tree_mb for r in runs),
            max(r.rss_max_mb for r in runs),
            runs[0].gets,
            runs[0].posts,
            not failed,
            failed[0].note if failed else "",
            statistics.median(r.server_cpu for r in runs),
            statistics.median(r.cpu for r in runs),
        )
        merged.append(run)
        walls = f"{min(r.wall for r in runs):.2f}-{max(r.wall for r in runs):.2f}" if len(runs) > 1 else ""
        result = "ok" if not failed else f"FAILED ({len(failed)}/{len(runs)}): {run.note}"
        rss = f"{run.rss_tree_mb:.0f}" if run.rss_tree_mb else "-"
        big = f"{run.rss_max_mb:.0f}" if run.rss_max_mb else "-"
        cpu = f"{run.cpu:.2f}" if run.cpu else "-"
        gets, posts = _spread([r.gets for r in runs]), _spread([r.posts for r in runs])
        lines.append(
            f"| {tool} | {scenario} | {workers} | {wall:.2f} | {walls} | {cpu} | {gets} | {posts} "
            f"| {run.server_cpu:.2f} | {rss} | {big} | {result} |"
        )
    return merged, lines


def _ratio(slow: Run | None, fast: Run | None) -> tuple[str, float | None]:
    if slow is None or fast is None or fast.wall <= 0:
        return "n/a", None
    value = slow.wall / fast.wall
    return f"{value:.1f}x", value


def _seconds(run: Run | None) -> str:
    return f"{run.wall:.2f} s" if run is not None else "n/a"


def _met(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "met" if value >= target else f"**missed** ({value / target:.0%} of the target)"


def _checks(benches: Sequence[Bench]) -> list[str]:
    keys: dict[str, None] = {}
    for bench in benches:
        keys.update(dict.fromkeys(bench.checks))
    lines = []
    for key in keys:
        values = [bench.checks.get(key, "-") for bench in benches]
        shown = values[0] if all(v == values[0] for v in values) else values
        if isinstance(shown, list) and shown and all(isinstance(v, str) for v in shown):
            lines.append(f"- {key}:")
            lines += [f"  - `{v}`" for v in shown]
        else:
            lines.append(f"- {key}: {shown}")
    return lines


def section(count: int, layout: str, benches: Sequence[Bench]) -> tuple[list[str], list[Row]]:
    runs, table = aggregate(benches)
    setup = statistics.median(b.setup_seconds for b in benches)
    lines = [
        f"### N = {count}, {layout} layout"
        + (f" (median of {len(benches)} runs)" if len(benches) > 1 else ""),
        "",
        f"Set-up (untimed): {count} git repositories, fleet file, JJB jobs file in {setup:.1f} s.",
        "",
        "| tool | scenario | workers | wall s | wall range | tool CPU s | GET | POST | emulator CPU s "
        "| peak RSS tree MB | largest process MB | result |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
        *table,
        "",
        "Checks:",
        *_checks(benches),
        "",
    ]
    ours = {s: best(runs, "reconcile-all", s) for s in ("cold", "no-op", "change", JSON_CHANGE)}
    rows: list[Row] = []
    comparisons = (
        (JJB_TEMPLATE, "cold", "cold", "cold", 4.0),
        (JJB_TEMPLATE, "no-op vs a cold cache", "no-op", "no-op, cold", 4.0),
        (JJB_TEMPLATE, "no-op vs a warm cache (JJB checks nothing)", "no-op", "no-op, warm", 2.0),
        (JJB_TEMPLATE, "change vs a cold cache", "change", "change (cold", 4.0),
        (JJB_TEMPLATE, "change vs a warm cache", "change", "change (warm", 0.0),
        (JJB_TEMPLATE, "change, JSON report (diffs), vs a cold cache", JSON_CHANGE, "change (cold", 0.0),
        (JJB, "cold, each at its best workers", "cold", "cold", 4.0),
        (JJB, "no-op vs a cold cache", "no-op", "no-op, cold", 0.0),
        (JJB, "no-op vs a warm cache", "no-op", "no-op, warm", 0.0),
        (JJB, "change vs a warm cache", "change", "change", 0.0),
    )
    for tool, label, scenario, theirs, target in comparisons:
        jjb = best(runs, tool, theirs)
        if jjb is None:
            continue
        text, value = _ratio(jjb, ours[scenario])
        rows.append(
            Row(
                count,
                layout,
                f"{label} ({tool.removeprefix('jjb, ')})",
                _seconds(ours[scenario]),
                f"{jjb.wall:.2f} s (w{jjb.workers})",
                text,
                f">= {target:.0f}x" if target else "",
                _met(value, target) if target else "",
            )
        )
    noop = ours["no-op"]
    if noop is not None:
        rows.append(
            Row(
                count,
                layout,
                "no-op POSTs",
                str(noop.posts),
                "",
                "",
                "0",
                "met" if noop.posts == 0 else "**missed**",
            )
        )
    rss = max((r.rss_tree_mb for r in runs if r.tool == "reconcile-all"), default=0.0)
    jjb_rss = max((r.rss_tree_mb for r in runs if r.tool.startswith("jjb")), default=0.0)
    jjb_text = f"{jjb_rss:.0f} MB" if jjb_rss else ""
    rows.append(
        Row(
            count,
            layout,
            "peak RSS (process tree)",
            f"{rss:.0f} MB",
            jjb_text,
            "",
            "< 300 MB",
            "met" if rss < 300 else "**missed**",
        )
    )
    for scenario, target in (("cold", 0.0), ("no-op", 2.0), ("change", 1.5)):
        mine = ours[scenario]
        floor = best(runs, "emulator floor", scenario)
        if scenario == "change":  # the floor of the requests reconcile-all sent: a read before the write?
            read_first = mine is None or mine.gets >= 1.5 * count
            kind = "change: list, read" if read_first else "change: list, write"
            floor = best(runs, "emulator floor", kind)
        if floor is None:
            continue
        text, value = _ratio(mine, floor)
        rows.append(
            Row(
                count,
                layout,
                f"{scenario}: reconcile-all / emulator floor ({floor.scenario.split(': ')[1]})",
                _seconds(mine),
                f"floor {floor.wall:.2f} s",
                text,
                f"<= {target:.1f}x" if target else "",
                ("met" if value <= target else f"**missed** ({value / target:.1f}x the target)")
                if target and value is not None
                else "",
            )
        )
    return lines, rows


def summary_table(rows: list[Row]) -> list[str]:
    lines = [
        "| N | layout | measure | reconcile-all | JJB / floor | ratio | target | met? |",
        "|---:|---|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        cells = (str(r.count), r.layout, r.measure, r.ours, r.other, r.ratio, r.target, r.met)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_results(
    out: Path, command: str, machine: str, repeat: int, table: list[str], body: list[str]
) -> None:
    """Write RESULTS.md; a hand-written analysis below ANALYSIS_MARKER survives a new run."""
    head = [
        "# Fleet benchmark: `provisioner reconcile-all` vs Jenkins Job Builder",
        "",
        f"Command: `{command}`",
        "",
        machine,
        "",
        "## Summary" + (f" (medians of {repeat} runs)" if repeat > 1 else ""),
        "",
        "Ratios are JJB's wall time over reconcile-all's (higher is better for reconcile-all), or",
        "reconcile-all's over the emulator floor (1.0x would be the emulator's own cost).",
        "",
        *table,
        "",
        "## Runs",
        "",
        "tool CPU: user + system seconds of the tool and its child processes (os.wait4), which load from",
        "other processes on the machine changes much less than wall time;",
        "GET/POST: requests the emulator served during the run; emulator CPU: CPU seconds the emulator",
        "process spent on them (on the same 2 CPUs as the tool); peak RSS tree: the tool's process and",
        "its children, sampled every 20 ms; largest process: ru_maxrss from os.wait4.",
        "",
    ]
    previous = out.read_text(encoding="utf-8") if out.exists() else ""
    kept = previous[previous.index(ANALYSIS_MARKER) :] if ANALYSIS_MARKER in previous else ""
    out.write_text("\n".join(head + body) + "\n" + kept, encoding="utf-8")
