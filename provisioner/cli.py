"""The `provisioner` command line: the command table, logging, and the one error boundary.

Each command module adds its own parser (``register``) and returns an exit code from ``run``; the
table below is the order of ``--help``. Command modules keep top-level imports light (stdlib only),
so ``validate`` and ``next-runs`` start fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from provisioner import __version__
from provisioner.commands import (
    console,
    metrics,
    next_runs,
    reconcile,
    reconcile_all,
    render,
    status,
    upgrade_values,
    validate,
)
from provisioner.error_handler import ArgumentParser, guarded

LOG = logging.getLogger("provisioner")
PROG = "provisioner"

COMMANDS = (validate, next_runs, render, reconcile, reconcile_all, status, metrics, upgrade_values, console)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description=(
            "Validate a registry's backup settings (values.yaml in git), preview when backups run, "
            "and provision the Jenkins job Create-registry-backup-<registry> from them."
        ),
        epilog="Exit codes: 0 ok, 1 invalid settings, 2 usage or I/O error, 3 Jenkins failure, "
        "4 some registries failed (reconcile-all), 5 some registry's backups are overdue or failing "
        "(status --fleet), 70 internal error (a bug), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def _configure_logging(verbose: bool) -> None:
    # main() may run several times in one process (tests, the demo): one stderr handler, to the
    # current sys.stderr, so lines are never printed twice.
    for old in [h for h in LOG.handlers if getattr(h, "_provisioner_cli", False)]:
        LOG.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler._provisioner_cli = True  # type: ignore[attr-defined]
    LOG.addHandler(handler)
    LOG.setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one command; the exit code (argparse's usage errors included, never an exception)."""

    def body() -> int:
        args = build_parser().parse_args(argv)
        args.environ = os.environ if environ is None else environ
        _configure_logging(args.verbose)
        code: int = args.handler(args)
        return code

    return guarded(PROG, argv, body)


if __name__ == "__main__":
    raise SystemExit(main())
