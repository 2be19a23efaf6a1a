"""`provisioner next-runs`: when a schedule fires in a time zone (Jenkins's firing rule)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from provisioner.commands._source import add_policy_argument, instant_arg, load_policy_from_args
from provisioner.commands._types import whole_number
from provisioner.errors import ExitCode

MAX_COUNT = 100


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "next-runs",
        help="list the next runs of a unix-cron schedule in a time zone",
        description="List the runs of SCHEDULE strictly after --after (default now), as Jenkins fires them: "
        "a local time skipped by daylight saving does not run, a repeated one runs twice. "
        "Exit 0 ok, 1 invalid schedule or time zone, 2 usage error.",
    )
    parser.add_argument("schedule", metavar="SCHEDULE", help='unix-cron schedule, e.g. "30 19 * * *"')
    parser.add_argument(
        "--tz", metavar="ZONE", default=None, help="IANA time zone (default: the policy's, Europe/Kiev)"
    )
    parser.add_argument(
        "--count",
        metavar="N",
        type=whole_number(1, MAX_COUNT),
        default=3,
        help=f"how many runs, 1-{MAX_COUNT} (default 3)",
    )
    parser.add_argument(
        "--after", metavar="ISO8601", help="list runs strictly after this instant (default now)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_policy_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from provisioner.settings.cron import describe, dst_warnings, next_runs
    from provisioner.settings.strict_yaml import FieldError
    from provisioner.settings.timezones import time_zone_problem
    from provisioner.settings.values import check_schedule_text

    after = instant_arg(args.after, "--after") if args.after is not None else datetime.now(UTC)
    policy = load_policy_from_args(args)
    zone_name = args.tz if args.tz is not None else policy.default_time_zone
    errors: list[FieldError] = []
    schedule, problem = check_schedule_text(args.schedule, policy)
    if problem is not None:
        errors.append(FieldError("schedule", f"{args.schedule!r}: {problem}", None))
    zone_problem = time_zone_problem(zone_name)
    if zone_problem is not None:
        errors.append(FieldError("timeZone", f"{zone_name!r}: {zone_problem}", None))
    runs: list[str] = []
    warnings: list[str] = []
    if schedule is not None and zone_problem is None:
        zone = ZoneInfo(zone_name)
        runs = [r.isoformat() for r in next_runs(schedule, zone, after, args.count)]
        try:
            warnings = dst_warnings(schedule, zone, after)
        except (OverflowError, ValueError):
            warnings = []
    shown_schedule = args.schedule.strip(" \t")
    if args.format == "json":
        report: dict[str, object] = {"schedule": shown_schedule, "timeZone": zone_name, "runs": runs}
        if errors:
            report["errors"] = [e.to_json() for e in errors]
        print(json.dumps(report, indent=2, ensure_ascii=False))
    elif errors:
        print("invalid:")
        for e in errors:
            print(f"  {e}")
    else:
        assert schedule is not None
        print(f"{shown_schedule} in {zone_name}: {describe(schedule)}")
        for r in runs:
            print(f"  {r}")
        for w in warnings:
            print(f"warning: {w}")
    return int(ExitCode.INVALID_SETTINGS if errors else ExitCode.OK)
