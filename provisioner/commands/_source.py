"""CLI helpers shared by validate, render, reconcile and status: where values.yaml and policy come from."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner import clock
from provisioner.errors import UsageError

if TYPE_CHECKING:
    from provisioner.gitsource import ValuesSource
    from provisioner.settings.policy import Policy

DEFAULT_VALUES_PATH = "deploy-templates/values.yaml"


def add_values_source_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """--repo DIR [--ref REF] [--values-path P] | --values FILE, and --policy FILE."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--repo", metavar="DIR", type=Path, help="local git repository of the registry")
    group.add_argument("--values", metavar="FILE", type=Path, help="a plain values.yaml file instead of git")
    parser.add_argument(
        "--ref", metavar="REF", default=None, help="commit, branch or tag to read (default HEAD)"
    )
    parser.add_argument(
        "--values-path",
        metavar="P",
        default=None,
        help=f"path of values.yaml inside the repository (default {DEFAULT_VALUES_PATH})",
    )
    add_policy_argument(parser)


def add_policy_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        metavar="FILE",
        type=Path,
        default=None,
        help="policy file: defaults and raised minimums (default: the built-in policy)",
    )


def load_values_source(args: argparse.Namespace) -> ValuesSource:
    """Read values.yaml from git (--repo) or a file (--values); UsageError on anything missing."""
    from provisioner.gitsource import read_values_file, read_values_from_git

    if args.repo is not None:
        return read_values_from_git(
            args.repo,
            args.ref if args.ref is not None else "HEAD",
            args.values_path if args.values_path is not None else DEFAULT_VALUES_PATH,
        )
    if args.ref is not None or args.values_path is not None:
        raise UsageError("--ref and --values-path go with --repo, not with --values")
    return read_values_file(args.values)


def load_policy_from_args(args: argparse.Namespace) -> Policy:
    path = getattr(args, "policy", None)
    if path is None:
        from provisioner.settings.policy import DEFAULT_POLICY

        return DEFAULT_POLICY
    from provisioner.settings.policy_file import load_policy  # pydantic: only when a file is given

    return load_policy(path)


def instant_arg(text: str, flag: str) -> datetime:
    """``--now``/``--after``: :func:`provisioner.clock.parse_instant` (the grammar both CLIs share)."""
    try:
        return clock.parse_instant(text)
    except clock.InvalidInstant as exc:
        raise UsageError(f"{flag} {exc}") from None
