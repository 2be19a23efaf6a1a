"""Shared by `status --fleet` and `metrics`: gather every registry's status from git + a store or Jenkins.

The I/O edge of :mod:`provisioner.monitoring.fleet`: read each registry's values.yaml from its git
repository (the fleet file says where), validate it with the policy, find the last successful backup
in the backup store (``--store``) or in the Jenkins job (``--jenkins-url``), and hand the statuses to
the pure functions. A registry that cannot be read is a *failing* row, never an aborted command.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.commands._source import add_policy_argument, instant_arg, load_policy_from_args
from provisioner.commands._target import add_connection_arguments, build_http_target
from provisioner.errors import ProvisionerError, UsageError

if TYPE_CHECKING:
    from provisioner.fleet.file import FleetEntry
    from provisioner.jenkins.http import HttpTarget
    from provisioner.monitoring.fleet import RegistryHealth
    from provisioner.settings.policy import Policy


def add_fleet_source_arguments(parser: argparse.ArgumentParser, *, fleet_required: bool) -> None:
    """--fleet FLEET, --store DIR | --jenkins-url URL (+ connection flags), --policy, --now."""
    parser.add_argument(
        "--fleet", metavar="FLEET.yaml", type=Path, required=fleet_required, help="the fleet file"
    )
    if fleet_required:  # status adds its own --store/--jenkins-url (shared with the single-registry mode)
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument(
            "--store", metavar="DIR", type=Path, help="the archive store backup-registry writes"
        )
        where.add_argument(
            "--jenkins-url", metavar="URL", help="Jenkins base URL: read each job's last build"
        )
        add_connection_arguments(parser)
        add_policy_argument(parser)
        parser.add_argument("--now", metavar="ISO8601", default=None, help="the current time (default: now)")


def now_from_args(args: argparse.Namespace) -> datetime:
    return instant_arg(args.now, "--now") if args.now is not None else datetime.now(UTC)


def _one(
    entry: FleetEntry, policy: Policy, now: datetime, store: Path | None, target: HttpTarget | None
) -> RegistryHealth:
    from provisioner.gitsource import read_values_from_git
    from provisioner.last_backup import last_from_jenkins, last_from_store
    from provisioner.monitoring.fleet import failed, health_of
    from provisioner.settings.values import validate_values_text
    from provisioner.status import build_status

    try:
        source = read_values_from_git(entry.repo, entry.ref, entry.values_path)
    except ProvisionerError as exc:
        return failed(entry.name, exc.message)
    validation = validate_values_text(source.text, policy)
    if validation.settings is None:
        errors = "; ".join(str(error) for error in validation.errors)
        return failed(entry.name, f"invalid settings in {source.path}: {errors}")
    try:
        if target is not None:
            last, warnings = last_from_jenkins(target, entry.job)
            kept = None
        else:
            assert store is not None
            last, records, warnings = last_from_store(store, entry.name)
            kept = len(records)
    except ProvisionerError as exc:
        return failed(entry.name, exc.message)
    status = build_status(
        entry.name,
        validation.settings,
        source="jenkins" if target is not None else "store",
        now=now,
        last=last,
        backups_kept=kept,
        warnings=warnings,
    )
    return health_of(status, now)


def gather_fleet(args: argparse.Namespace) -> tuple[list[RegistryHealth], datetime]:
    """Every registry of ``--fleet``, in the fleet file's order; usage errors before any registry is read."""
    from provisioner.fleet.file import load_fleet

    now = now_from_args(args)
    target = build_http_target(args) if args.jenkins_url is not None else None
    store: Path | None = args.store
    if store is not None and not store.is_dir():
        raise UsageError(f"--store {store} is not a directory")
    entries = load_fleet(args.fleet)
    policy = load_policy_from_args(args)
    return [_one(entry, policy, now, store, target) for entry in entries], now
