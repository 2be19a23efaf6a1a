"""Where reconcile-all's CPU goes, per registry and per request: each stage timed alone.

The stages of one registry (the steps :func:`provisioner.fleet.run.plan_entry` and
:func:`provisioner.jobs.reconcile.apply_plan` take) run one registry after the other in one thread,
each timed with ``time.thread_time`` (the CPU of this thread only: waiting for the emulator's answer
costs nothing, and the emulator runs in a process of its own). Then the same scenario runs through
:func:`provisioner.fleet.run.reconcile_fleet` as reconcile-all runs it (HTTP threads, planning worker
processes, the listing; the CPU of this process and of its workers, from getrusage): at the same load,
the difference to the sum is the pipeline's own cost. A whole run (bench_fleet.py's "tool CPU s") adds
the start-up (imports, reading the fleet file) and the report, about 0.2 s.

    python bench/profile_fleet.py --count 300 [--folder] [--out bench/PROFILE.md]

Prints a Markdown table: milliseconds of CPU per registry for each stage of a no-op, a change of
every schedule and a create.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import fleet_setup as fs  # noqa: E402
from fleet_harness import TOKEN, USER, Emulator  # noqa: E402

from provisioner.fleet.file import FleetEntry, load_fleet  # noqa: E402
from provisioner.fleet.report import FleetReport  # noqa: E402
from provisioner.fleet.run import reconcile_fleet  # noqa: E402
from provisioner.gitsource import GitRepository  # noqa: E402
from provisioner.jenkins.http import HttpTarget  # noqa: E402
from provisioner.jobs.reconcile import ReconcileRequest, plan_reconcile, verify_read_back  # noqa: E402
from provisioner.jobs.render import render_folder_config  # noqa: E402
from provisioner.settings.policy import Policy  # noqa: E402
from provisioner.settings.policy_file import load_policy  # noqa: E402
from provisioner.settings.values import validate_values_text  # noqa: E402

T = TypeVar("T")
STAGES = (
    ("get", "HTTP: GET config.xml (read the live job)"),
    ("open", "git: open the repository (libgit2)"),
    ("read", "git: resolve the ref, read values.yaml, find its last change"),
    ("validate", "validate values.yaml (strict YAML, settings, policy)"),
    ("plan", "plan: parse the live job, marker, digest; render, normalize, diff when needed"),
    ("post", "HTTP: POST (createItem or config.xml)"),
    ("readback", "HTTP: GET config.xml (read back)"),
    ("verify", "verify_read_back (trigger, parameters, disabled survived)"),
)


PIPELINE = "pipeline"
PIPELINE_TEXT = "**the whole pipeline** (reconcile_fleet: --workers 16, default processes)"


def _cpu() -> float:
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def pipeline_ms(run: Callable[[], FleetReport], count: int, action: str) -> float:
    """CPU ms per registry of one reconcile_fleet run: this process (every thread) and the worker
    processes it forked and reaped (the emulator is a process of its own, not a child's child)."""
    for thread in threading.enumerate():  # the HTTP watchdog lingers after the serial scenario:
        if thread is not threading.current_thread():  # as in reconcile-all, fork the workers (their
            thread.join(timeout=30)  # CPU then counts here) rather than use a forkserver
    start = _cpu()
    report = run()
    spent = _cpu() - start
    actions = {o.result.action if o.result is not None else "failed" for o in report.outcomes}
    assert actions == {action}, f"the pipeline run was {actions}, not {action}"
    return spent / count * 1000


class Clock:
    def __init__(self) -> None:
        self.spent = dict.fromkeys((key for key, _ in STAGES), 0.0)

    def __call__(self, stage: str, call: Callable[[], T]) -> T:
        start = time.thread_time()
        try:
            return call()
        finally:
            self.spent[stage] += time.thread_time() - start


def one_registry(target: HttpTarget, entry: FleetEntry, policy: Policy, clock: Clock, *, listed: bool) -> str:
    """What reconcile-all does for one registry, stage by stage; the plan's action. A job the
    listing does not show (``listed`` false) is not read: reconcile-all creates it straight away."""
    live = clock("get", lambda: target.read_job(entry.job)) if listed else None
    repo = clock("open", lambda: GitRepository(entry.repo))
    with repo:
        source = clock("read", lambda: repo.read_values(entry.ref, entry.values_path))
        validation = clock("validate", lambda: validate_values_text(source.text, policy))
        assert validation.settings is not None
        request = ReconcileRequest(
            registry=entry.name,
            settings=validation.settings,
            source=source,
            job=entry.job,
            repo_dir=entry.repo,
            jobs=policy.jobs,
            want_diff=False,  # as reconcile-all's text report (only --format json computes diffs)
        )
        plan = clock("plan", lambda: plan_reconcile(request, live, repo.is_ancestor))
    if plan.action != "unchanged":
        xml = plan.desired_xml
        assert xml is not None
        if plan.action == "created":
            clock("post", lambda: target.create_job(entry.job, xml))
        else:
            clock("post", lambda: target.update_job(entry.job, xml))
        back = clock("readback", lambda: target.read_job(entry.job))
        clock("verify", lambda: verify_read_back(entry.job.full_name, xml, back, plan.desired_facts))
    return plan.action


def scenario(
    target: HttpTarget, entries: list[FleetEntry], policy: Policy, *, listed: bool = True
) -> tuple[str, dict[str, float]]:
    clock = Clock()
    actions = {one_registry(target, entry, policy, clock, listed=listed) for entry in entries}
    per_registry = {stage: spent / len(entries) * 1000 for stage, spent in clock.spent.items()}
    return "/".join(sorted(actions)), per_registry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=300, help="registries")
    parser.add_argument("--folder", action="store_true", help="each job in a folder of its own")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    policy = load_policy(None)
    emulator = Emulator()
    try:
        with tempfile.TemporaryDirectory(prefix="profile-fleet-") as tmp:
            registries = fs.make_registries(Path(tmp), args.count, folder_layout=args.folder)
            v1 = load_fleet(fs.write_fleet(Path(tmp) / "v1.yaml", registries))
            target = HttpTarget(emulator.url, folder_config=render_folder_config, username=USER, token=TOKEN)
            reconcile_fleet(target, v1, policy=policy, workers=8, processes=0)  # untimed: jobs exist
            columns: list[tuple[str, dict[str, float]]] = []

            def whole(entries: list[FleetEntry], action: str) -> float:
                def run() -> FleetReport:
                    return reconcile_fleet(target, entries, policy=policy, workers=16, diffs=False)

                return pipeline_ms(run, len(entries), action)

            for label in ("no-op (1st)", "no-op (2nd)"):
                action, spent = scenario(target, v1, policy)
                columns.append((f"{label}: {action}", {**spent, PIPELINE: whole(v1, "unchanged")}))
            fs.change_schedules(registries)  # 19:xx -> 03:xx, applied by the pipeline
            pipeline_change = whole(v1, "updated")
            fs.change_schedules(registries, hour=19)  # 03:xx -> 19:xx, applied stage by stage
            action, spent = scenario(target, v1, policy)
            columns.append((f"change: {action}", {**spent, PIPELINE: pipeline_change}))
            emulator.reset(jobs=True)
            if args.folder:  # the folders first (untimed): this times the job's own requests
                for entry in v1:
                    target.ensure_folders(entry.job)
            action, spent = scenario(target, v1, policy, listed=False)
            emulator.reset(jobs=True)  # the pipeline creates the folders too (timed)
            columns.append((f"create: {action}", {**spent, PIPELINE: whole(v1, "created")}))
    finally:
        emulator.stop()
    command = f"python bench/profile_fleet.py --count {args.count}{' --folder' if args.folder else ''}"
    lines = [
        f"CPU ms per registry, {args.count} registries ({'folder' if args.folder else 'flat'}), "
        f"load average {os.getloadavg()[0]:.1f} at the end (`{command}`)",
        "",
        "| stage | " + " | ".join(label for label, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for key, text in STAGES:
        lines.append(f"| {text} | " + " | ".join(f"{spent[key]:.3f}" for _, spent in columns) + " |")
    sums = [sum(spent[key] for key, _ in STAGES) for _, spent in columns]
    lines.append("| **sum** | " + " | ".join(f"**{total:.3f}**" for total in sums) + " |")
    lines.append(
        f"| {PIPELINE_TEXT} | " + " | ".join(f"**{spent[PIPELINE]:.3f}**" for _, spent in columns) + " |"
    )
    beyond = [spent[PIPELINE] - total for (_, spent), total in zip(columns, sums, strict=True)]
    lines.append("| the pipeline beyond the sum | " + " | ".join(f"{ms:+.3f}" for ms in beyond) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out is not None:
        args.out.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
