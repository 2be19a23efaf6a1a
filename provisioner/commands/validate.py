"""`provisioner validate`: check a registry's backup settings and preview the next runs."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from provisioner.commands._source import (
    add_values_source_arguments,
    instant_arg,
    load_policy_from_args,
    load_values_source,
)
from provisioner.errors import ExitCode

if TYPE_CHECKING:
    from provisioner.gitsource import ValuesSource
    from provisioner.settings.values import ValidationResult

PREVIEW_RUNS = 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="validate global.registryBackup in values.yaml and preview the next runs",
        description="Validate a registry's backup settings (values.yaml from a git commit or a file). "
        "Exit 0 valid, 1 invalid settings, 2 usage or I/O error.",
    )
    add_values_source_arguments(parser)
    parser.add_argument("--now", metavar="ISO8601", help="fix 'now' for the preview (with a UTC offset)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


def validation_report(
    result: ValidationResult, source: ValuesSource | None, now: datetime
) -> dict[str, object]:
    """The JSON object of ``validate --format json``."""
    from zoneinfo import ZoneInfo

    from provisioner.settings.cron import next_runs

    runs: list[str] = []
    if result.schedule is not None and result.time_zone is not None:
        runs = [
            r.isoformat() for r in next_runs(result.schedule, ZoneInfo(result.time_zone), now, PREVIEW_RUNS)
        ]
    return {
        "valid": result.valid,
        "settings": result.settings.to_json() if result.settings is not None else None,
        "nextRuns": runs,
        "errors": [e.to_json() for e in result.errors],
        "warnings": list(result.warnings),
        "source": source.to_json() if source is not None else None,
    }


def _text(result: ValidationResult, source: ValuesSource, report: dict[str, object]) -> str:
    from provisioner.settings.cron import describe

    lines: list[str] = []
    origin = source.path
    if source.commit is not None:
        who = f"{source.author.name} <{source.author.email}>" if source.author else "unknown author"
        origin += f" (last changed in {source.commit[:12]} by {who})"
    lines.append(f"values: {origin}")
    if result.settings is not None:
        s = result.settings
        lines.append("valid: yes")
        lines.append(f"  backups:    {'enabled' if s.enabled else 'disabled (enabled: false)'}")
        lines.append(f"  schedule:   {s.schedule}")
    else:
        lines.append(f"valid: no ({len(result.errors)} error{'s' if len(result.errors) != 1 else ''})")
    if result.schedule is not None:
        lines.append(f"  meaning:    {describe(result.schedule)}")
    if result.time_zone is not None:
        lines.append(f"  time zone:  {result.time_zone}")
    if result.settings is not None:
        s = result.settings
        lines.append(f"  retention:  {s.expires_in_days} days ({s.expires_in_hours} hours)")
    runs = report["nextRuns"]
    assert isinstance(runs, list)
    if runs:
        label = (
            "next runs" if result.settings is None or result.settings.enabled else "next runs (if enabled)"
        )
        lines.append(f"{label}:")
        lines.extend(f"  {r}" for r in runs)
    if result.errors:
        lines.append("errors:")
        lines.extend(f"  {e}" for e in result.errors)
    if result.warnings:
        lines.append("warnings:")
        lines.extend(f"  {w}" for w in result.warnings)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from provisioner.settings.values import validate_values_text

    now = instant_arg(args.now, "--now") if args.now is not None else datetime.now(UTC)
    policy = load_policy_from_args(args)
    source = load_values_source(args)
    result = validate_values_text(source.text, policy, now=now)
    report = validation_report(result, source, now)
    if args.format == "json":
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(_text(result, source, report))
    return int(ExitCode.OK if result.valid else ExitCode.INVALID_SETTINGS)
