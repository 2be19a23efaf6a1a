"""`provisioner status`: backups on or off, the next runs, the last successful backup and its deletion."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from provisioner.commands._fleet_health import add_fleet_source_arguments, gather_fleet
from provisioner.commands._job import job_path_from_args, load_valid_settings, registry_name
from provisioner.commands._source import add_values_source_arguments, instant_arg
from provisioner.commands._target import add_connection_arguments, build_http_target
from provisioner.errors import ExitCode, UsageError
from provisioner.last_backup import last_drill_from_store, last_from_jenkins, last_from_store

__all__ = ["last_from_jenkins", "last_from_store", "register", "run"]  # the console imports the first two


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show whether backups run, the next runs and the last successful backup",
        description="What the admin console shows for a registry: automatic backups on or off, the schedule "
        "in words, the next three runs, and the last successful backup with the date retention may delete "
        "it. The last backup comes from a backup store (--store, the newest backup whose checksum "
        "verifies) or from the Jenkins job's last successful build (--jenkins-url). Exit 0 (also with "
        "warnings), 1 invalid settings, 2 usage or unreadable store, 3 Jenkins failure. With --fleet FLEET "
        "instead of --registry and --repo/--values: one table (or JSON) for every registry of the fleet "
        "file; exit 0 when all are healthy, 5 when any is overdue or failing (for a cron or CI alert).",
    )
    add_values_source_arguments(parser, required=False)
    parser.add_argument("--registry", type=registry_name, metavar="NAME", help="the registry")
    add_fleet_source_arguments(parser, fleet_required=False)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--store", metavar="DIR", type=Path, help="the archive backup store backup-registry writes"
    )
    where.add_argument(
        "--jenkins-url", metavar="URL", help="Jenkins base URL: read the job's last successful build"
    )
    parser.add_argument(
        "--job-name", metavar="N", default=None, help="job name (default Create-registry-backup-<registry>)"
    )
    parser.add_argument("--folder", metavar="F", default=None, help="folder path of the job, e.g. backups")
    add_connection_arguments(parser)
    parser.add_argument("--now", metavar="ISO8601", default=None, help="the current time (default: now)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


def run_fleet(args: argparse.Namespace) -> int:
    from provisioner.monitoring.fleet import render_table, unhealthy

    if args.registry is not None or args.repo is not None or args.values is not None:
        raise UsageError("--fleet replaces --registry and --repo/--values (the fleet file names them)")
    if args.job_name is not None or args.folder is not None or args.ref or args.values_path:
        raise UsageError(
            "--job-name, --folder, --ref and --values-path come from the fleet file with --fleet"
        )
    rows, now = gather_fleet(args)
    if args.format == "json":
        data = {"registries": [row.to_json(now) for row in rows], "healthy": not unhealthy(rows)}
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(render_table(rows, now))
    sys.stdout.flush()
    return int(ExitCode.UNHEALTHY if unhealthy(rows) else ExitCode.OK)


def run(args: argparse.Namespace) -> int:
    from provisioner.status import build_status, render_text

    if args.fleet is not None:
        return run_fleet(args)
    if args.registry is None:
        raise UsageError("give --registry NAME (with --repo or --values), or --fleet FLEET")
    if args.repo is None and args.values is None:
        raise UsageError("one of --repo or --values is required with --registry")

    now = instant_arg(args.now, "--now") if args.now is not None else datetime.now(UTC)
    target = None
    if args.jenkins_url is not None:
        path = job_path_from_args(args)
        target = build_http_target(args)  # usage errors (URL, credentials) before reading values
    elif args.job_name is not None or args.folder is not None:
        raise UsageError("--job-name and --folder go with --jenkins-url, not with --store")
    loaded = load_valid_settings(args)
    if loaded is None:
        return int(ExitCode.INVALID_SETTINGS)
    _source, settings, _policy = loaded
    drill = None
    if target is not None:
        last, warnings = last_from_jenkins(target, path)
        kept = None
    else:
        last, records, warnings = last_from_store(args.store, args.registry)
        kept = len(records)
        drill = last_drill_from_store(args.store, args.registry)
    status = build_status(
        args.registry,
        settings,
        source="jenkins" if target is not None else "store",
        now=now,
        last=last,
        backups_kept=kept,
        warnings=warnings,
        last_drill=drill,
    )
    if args.format == "json":
        print(json.dumps(status.to_json(), indent=2, ensure_ascii=False))
    else:
        print(render_text(status))
    sys.stdout.flush()
    return int(ExitCode.OK)
