"""CLI helpers shared by `render` and `reconcile`: --registry, --job-name, --folder, valid settings."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from provisioner.commands._source import (
    add_values_source_arguments,
    load_policy_from_args,
    load_values_source,
)
from provisioner.names import REGISTRY_NAME_RULE, is_registry_name

if TYPE_CHECKING:
    from provisioner.gitsource import ValuesSource
    from provisioner.jenkins.target import JobPath
    from provisioner.settings.model import BackupSettings
    from provisioner.settings.policy import Policy


def registry_name(text: str) -> str:
    """argparse type: a DNS-1123 label (what Kubernetes allows for the registry's namespace)."""
    if not is_registry_name(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a DNS-1123 label: {REGISTRY_NAME_RULE}")
    return text


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    add_values_source_arguments(parser)
    parser.add_argument(
        "--registry",
        required=True,
        type=registry_name,
        metavar="NAME",
        help="the registry (a DNS-1123 label)",
    )
    parser.add_argument(
        "--job-name", metavar="N", default=None, help="job name (default Create-registry-backup-<registry>)"
    )
    parser.add_argument(
        "--folder",
        metavar="F",
        default=None,
        help="folder path for the job, e.g. registries or team/registries (created when missing)",
    )


def job_path_from_args(args: argparse.Namespace) -> JobPath:
    from provisioner.jenkins.target import job_path
    from provisioner.jobs.render import check_backup_job_name, default_job_name

    if args.job_name is None:
        return job_path(default_job_name(args.registry), args.folder)
    return job_path(check_backup_job_name(args.job_name, "--job-name"), args.folder)


def load_valid_settings(
    args: argparse.Namespace,
) -> tuple[ValuesSource, BackupSettings, Policy] | None:
    """Read and validate values.yaml; on invalid settings print the errors on stderr and return None.

    Also returns the policy: the jobs are rendered with its job options (timeout, notification
    credentials) and its drills."""
    from provisioner.settings.values import validate_values_text

    policy = load_policy_from_args(args)
    source = load_values_source(args)
    result = validate_values_text(source.text, policy)
    if result.settings is None:
        print(
            f"provisioner: invalid settings in {source.path} (nothing was sent to Jenkins):", file=sys.stderr
        )
        for error in result.errors:
            print(f"  {error}", file=sys.stderr)
        return None
    for warning in result.warnings:
        print(f"provisioner: warning: {warning}", file=sys.stderr)
    return source, result.settings, policy
