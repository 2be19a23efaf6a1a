"""`provisioner reconcile-all`: reconcile every registry listed in a fleet file into one Jenkins."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.commands._source import add_policy_argument, load_policy_from_args
from provisioner.commands._target import add_target_arguments, build_target
from provisioner.commands._types import whole_number
from provisioner.errors import UsageError

if TYPE_CHECKING:
    from provisioner.fleet.report import FleetReport, RegistryOutcome

MAX_WORKERS = 64  # concurrent HTTP requests: more would only queue inside Jenkins
LOG = logging.getLogger("provisioner")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "reconcile-all",
        help="reconcile the backup jobs (and drill jobs) of every registry listed in a fleet file",
        description="Reconcile every registry of FLEET.yaml into one Jenkins, as `reconcile` does for one: "
        "validate, render, compare with the live job, create/update/leave alone, read back, audit. "
        "The live Jenkins is listed with one request and every existing job is checked live (no local "
        "cache). With a policy that has drills: {schedule}, each registry's Drill-registry-backup-<name> job "
        "too (disabled, never deleted, once the policy has no drills). "
        "One registry's failure does not stop the others. Exit 0 all ok, 4 some failed, "
        "1/2/3 when every registry failed for invalid settings / unreadable repositories / Jenkins, "
        "2 for an invalid fleet file (nothing done), 3 when Jenkins cannot be listed at all.",
        epilog="FLEET.yaml: `registries:` a list of {name, repo (relative to the fleet file), ref (default "
        "HEAD), valuesPath (default deploy-templates/values.yaml), folder, jobName (default "
        "Create-registry-backup-<name>)}; only name and repo are required.",
    )
    parser.add_argument("--fleet", metavar="FLEET.yaml", type=Path, required=True, help="the fleet file")
    add_target_arguments(parser)
    add_policy_argument(parser)
    parser.add_argument(
        "--workers",
        metavar="N",
        type=whole_number(1, MAX_WORKERS),
        default=None,
        help="registries reconciled at once (default 8; one HTTP connection each)",
    )
    parser.add_argument(
        "--processes",
        metavar="N",
        type=whole_number(0, 32),
        default=None,
        help="worker processes for the CPU-bound part (reading git, validating, rendering, comparing); "
        "default: CPUs minus one for 64 or more registries, else 0 (all in this process)",
    )
    parser.add_argument("--dry-run", action="store_true", help="read only: show what would change")
    parser.add_argument(
        "--prune-orphans",
        action="store_true",
        help="disable (never delete) managed backup and drill jobs whose registry is not in the fleet; "
        "their backups are untouched",
    )
    parser.add_argument(
        "--audit-log",
        metavar="FILE",
        type=Path,
        default=None,
        help="append one audit JSON line per registry sent to Jenkins (fsynced at the end)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: when stderr is a terminal)",
    )
    parser.set_defaults(handler=run)


@contextmanager
def _progress(total: int, mode: str) -> Iterator[Callable[[], None]]:
    """A rich progress bar on stderr; log lines printed meanwhile appear above it."""
    if mode == "never" or (mode == "auto" and not sys.stderr.isatty()):
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, force_terminal=True if mode == "always" else None)
    columns = (TextColumn("reconciling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("reconcile", total=total)
        handlers = [h for h in LOG.handlers if isinstance(h, logging.StreamHandler)]
        saved = [h.setStream(sys.stderr) for h in handlers]  # rich's stderr proxy while the bar is live
        try:
            yield lambda: progress.advance(task)
        finally:
            for handler, stream in zip(handlers, saved, strict=True):
                if stream is not None:
                    handler.setStream(stream)


def _detail(outcome: RegistryOutcome) -> str:
    if outcome.error is not None:
        return outcome.error
    result = outcome.result
    assert result is not None
    parts = ["drift restored" if result.drift and not result.dry_run else "drift" if result.drift else ""]
    if result.kind == "drill" and not result.enabled and result.action != "unchanged":
        parts.append("disabled")  # with the backups, or because the policy has no drills any more
    parts.extend(result.warnings)
    return "; ".join(part for part in parts if part)


def _table(title: str, headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    """A plain aligned table: readable in a terminal, a CI log and a pipe alike (no wrapping)."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = [title]
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    return lines


def _print_text(report: FleetReport) -> None:
    summary = report.summary()
    lines: list[str] = []
    rows = [
        o
        for o in report.outcomes + report.drills
        if o.result is None or o.result.action != "unchanged" or o.result.drift or o.result.warnings
    ]
    if rows:
        table: list[tuple[str, ...]] = []
        for outcome in rows:
            action: str = outcome.result.action if outcome.result is not None else "FAILED"
            if outcome.result is not None and report.dry_run and action != "unchanged":
                action = f"would be {action}"
            table.append((outcome.entry.name, outcome.entry.job.full_name, action, _detail(outcome)))
        lines += _table(
            "Registries changed or needing attention:", ("REGISTRY", "JOB", "ACTION", "DETAIL"), table
        )
    if report.orphans:
        orphans = [(o.job, o.registry, o.action, o.error or "backups kept") for o in report.orphans]
        lines += _table(
            "Jobs of registries no longer in the fleet:", ("JOB", "REGISTRY", "ACTION", "DETAIL"), orphans
        )
    lines += [f"warning: {warning}" for warning in report.warnings]
    lines.append(_counts_line(f"{len(report.outcomes)} registries", summary, report.dry_run))
    if report.drills:
        lines.append(_counts_line(f"{len(report.drills)} drill jobs", report.drill_summary(), report.dry_run))
    print("\n".join(lines))


def _counts_line(what: str, counts: dict[str, int], dry_run: bool) -> str:
    verb = "would be " if dry_run else ""
    return (
        f"{what}: {counts['created']} {verb}created, {counts['updated']} {verb}updated, "
        f"{counts['unchanged']} unchanged, {counts['failed']} failed, drift in {counts['drift']}"
    )


def run(args: argparse.Namespace) -> int:
    from provisioner.fleet.file import load_fleet
    from provisioner.fleet.run import DEFAULT_WORKERS, reconcile_fleet
    from provisioner.jenkins.target import FleetTarget
    from provisioner.jobs.audit import AuditWriter, audit_record

    if args.audit_log is not None and args.audit_log.is_dir():
        raise UsageError(f"--audit-log {args.audit_log} is a directory")
    entries = load_fleet(args.fleet)  # every problem in the file, before any work
    policy = load_policy_from_args(args)
    workers = args.workers or DEFAULT_WORKERS
    target: FleetTarget = build_target(args, pool_size=workers)

    with (
        AuditWriter(None if args.dry_run else args.audit_log) as audit,
        _progress(len(entries), args.progress) as advance,
    ):

        def on_outcome(outcome: RegistryOutcome) -> None:
            if not args.dry_run and outcome.request is not None:
                audit.write(audit_record(outcome.request, outcome.result, error=outcome.error))
            if outcome.entry.kind == "backup":  # the bar counts registries; drill jobs follow them
                advance()

        report = reconcile_fleet(
            target,
            entries,
            policy=policy,
            workers=workers,
            processes=args.processes,
            dry_run=args.dry_run,
            prune=args.prune_orphans,
            diffs=args.format == "json",  # only the JSON report carries diffs
            on_outcome=on_outcome,
        )
    if args.format == "json":
        json.dump(report.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print_text(report)
    sys.stdout.flush()
    return int(report.exit_code())
