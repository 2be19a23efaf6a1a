"""`provisioner metrics`: the fleet's backup health as Prometheus metrics (text format)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from provisioner.commands._fleet_health import add_fleet_source_arguments, gather_fleet
from provisioner.errors import ExitCode, UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "metrics",
        help="print the fleet's backup health as Prometheus metrics",
        description="For every registry of the fleet file: registry_backup_enabled, registry_backup_overdue "
        "(two scheduled runs without a success, the `status` rule, computed from the schedule in the "
        "registry's time zone), registry_backup_failing, registry_backup_last_success_age_seconds and "
        "registry_backup_next_run_timestamp_seconds, in the Prometheus text format on stdout or written "
        "atomically to --output (for node_exporter's textfile collector). Exit 0 (whatever the health: "
        "alerting is Prometheus's job), 2 usage, 3 Jenkins failure.",
    )
    add_fleet_source_arguments(parser, fleet_required=True)
    parser.add_argument(
        "--output",
        metavar="FILE.prom",
        type=Path,
        default=None,
        help="write here atomically (default: stdout)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from provisioner._fs import atomic_write_bytes
    from provisioner.monitoring.fleet import fleet_metrics_text

    output: Path | None = args.output
    if output is not None and (not output.name.endswith(".prom") or not output.parent.is_dir()):
        raise UsageError(f"--output {output}: must end in .prom, in an existing directory")
    rows, now = gather_fleet(args)
    text = fleet_metrics_text(rows, now)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            atomic_write_bytes(output.parent, output.name, text.encode("utf-8"), mode=0o644)
        except OSError as exc:
            raise UsageError(f"cannot write --output {output}: {exc.strerror or exc}") from exc
    return int(ExitCode.OK)
