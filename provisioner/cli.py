"""The `provisioner` command line: discovers subcommands in `provisioner.commands`."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from provisioner import __version__
from provisioner.errors import ExitCode, ProvisionerError

LOG = logging.getLogger("provisioner")


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors, which is our usage exit code too."""


def build_parser() -> argparse.ArgumentParser:
    import provisioner.commands as commands_pkg

    parser = _Parser(
        prog="provisioner",
        description=(
            "Validate a registry's backup settings (values.yaml in git), preview when backups run, "
            "and provision the Jenkins job Create-registry-backup-<registry> from them."
        ),
        epilog="Exit codes: 0 ok, 1 invalid settings, 2 usage or I/O error, 3 Jenkins failure, "
        "4 some registries failed (reconcile-all), 5 some registry's backups are overdue or failing "
        "(status --fleet).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = [
        importlib.import_module(f"{commands_pkg.__name__}.{info.name}")
        for info in pkgutil.iter_modules(commands_pkg.__path__)
        if not info.name.startswith("_")
    ]
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        module.register(sub)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        code: int = args.handler(args)
    except ProvisionerError as exc:
        print(f"provisioner: error: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("provisioner: interrupted", file=sys.stderr)
        return int(ExitCode.USAGE)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
