"""`provisioner render`: print the job's config.xml (what reconcile would send), without Jenkins."""

from __future__ import annotations

import argparse
import sys

from provisioner.commands._job import add_job_arguments, job_path_from_args, load_valid_settings
from provisioner.errors import ExitCode, UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "render",
        help="print the Create-registry-backup job's config.xml",
        description="Render the job's config.xml from values.yaml (git commit or file) on stdout. "
        "Exit 0 ok, 1 invalid settings, 2 usage or I/O error.",
    )
    add_job_arguments(parser)
    parser.add_argument(
        "--drill",
        action="store_true",
        help="print the Drill-registry-backup job instead (needs a policy with drills: {schedule: ...})",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from provisioner.jobs.render import render_job_config

    path = job_path_from_args(args)
    loaded = load_valid_settings(args)
    if loaded is None:
        return int(ExitCode.INVALID_SETTINGS)
    source, settings, policy = loaded
    if args.drill:
        from provisioner.jobs.drill import drill_job_path, drill_settings

        if policy.drills is None:
            raise UsageError("--drill: the policy has no drills (give --policy with drills: {schedule})")
        path = drill_job_path(path, args.registry)
        settings = drill_settings(settings, policy.drills)
    sys.stdout.write(
        render_job_config(
            settings,
            registry=args.registry,
            job_full_name=path.full_name,
            source=source,
            jobs=policy.jobs,
            kind="drill" if args.drill else "backup",
        )
    )
    return int(ExitCode.OK)
