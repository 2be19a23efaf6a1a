"""`provisioner upgrade-values`: keep a registry's backup settings across a registry upgrade.

    provisioner upgrade-values --current FILE --incoming FILE [-o OUT] [--format text|json]
    provisioner upgrade-values --repo DIR --incoming FILE [--values-path P] --commit [--author "N <e>"]

Exit codes: 0 done (or nothing to do), 1 the upgrade cannot be made (a file is not valid YAML, global
is not a mapping, the result would not keep the settings), 2 usage or I/O (missing file or repo, a
dirty values.yaml, git failing).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.commands._source import add_policy_argument, load_policy_from_args
from provisioner.errors import ExitCode, ProvisionerError, UsageError

if TYPE_CHECKING:
    from provisioner.upgrade.carry import UpgradeResult

DEFAULT_VALUES_PATH = "deploy-templates/values.yaml"
_AUTHOR = re.compile(r"(?P<name>[^<>\n\r\x00]*[^<>\s])\s*<(?P<email>[^<>\s\x00]+@[^<>\s\x00]+)>")


class InvalidUpgrade(ProvisionerError):
    """The upgrade cannot be made safely (exit 1)."""

    exit_code = ExitCode.INVALID_SETTINGS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "upgrade-values",
        help="carry global.timeZone and global.registryBackup into a new registry version's values.yaml",
        description="Write the incoming values.yaml (the new registry version's) with global.timeZone and "
        "global.registryBackup taken from the current one; everything else of the incoming file is kept. "
        "Exit 0 done, 1 the upgrade cannot be made safely, 2 usage or I/O error.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--current", metavar="FILE", type=Path, help="the registry's current values.yaml")
    source.add_argument(
        "--repo",
        metavar="DIR",
        type=Path,
        help="the registry's git repository: upgrade its values.yaml in place (with --commit)",
    )
    parser.add_argument(
        "--incoming", metavar="FILE", type=Path, required=True, help="the new version's values.yaml"
    )
    parser.add_argument(
        "-o", "--output", metavar="OUT", type=Path, help="write here (atomically), not stdout"
    )
    parser.add_argument(
        "--values-path",
        metavar="P",
        default=None,
        help=f"values.yaml inside the repository (with --repo; default {DEFAULT_VALUES_PATH})",
    )
    parser.add_argument("--commit", action="store_true", help="with --repo: write values.yaml and commit it")
    parser.add_argument(
        "--author",
        metavar='"NAME <EMAIL>"',
        default=None,
        help="author and committer of the commit (default: the repository's configured identity)",
    )
    add_policy_argument(parser)  # validates the current settings for the warnings
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


def parse_author(text: str) -> tuple[str, str]:
    match = _AUTHOR.fullmatch(text.strip())
    if match is None:
        raise UsageError(f'--author {text!r} must look like "Name <email@example.com>"')
    return match["name"].strip(), match["email"]


def _read(path: Path, what: str) -> str:
    from provisioner.gitsource import read_values_file

    try:
        return read_values_file(path).text
    except UsageError as exc:
        raise UsageError(f"{what}: {exc.message}") from exc


def commit_message(result: UpgradeResult, values_path: str, incoming: Path) -> str:
    lines = [
        f"Upgrade {values_path}: keep the registry's backup settings",
        "",
        f"New values.yaml from {incoming.name}, with the backup settings of the previous version",
        "carried over by `provisioner upgrade-values`:",
    ]
    for key, value in result.carried_over.items():
        lines.append(f"- {key}: {json.dumps(value, ensure_ascii=False, sort_keys=False)}")
    for key in result.removed:
        lines.append(f"- {key}: removed (not set before; the defaults still apply)")
    if not result.carried_over and not result.removed:
        lines.append("- none set before; the defaults still apply")
    for warning in result.warnings:
        lines.append(f"Warning: {warning}")
    return "\n".join(lines) + "\n"


def _text_report(result: UpgradeResult, report: dict[str, object]) -> str:
    lines: list[str] = []
    if result.carried_over:
        lines.append("Carried over from the current values.yaml:")
        for key, value in result.carried_over.items():
            state = "rewritten" if key in result.changed else "already the same in the incoming file"
            lines.append(f"  {key}: {json.dumps(value, ensure_ascii=False)} ({state})")
    else:
        lines.append("The current values.yaml sets neither global.timeZone nor global.registryBackup.")
    for key in result.removed:
        lines.append(f"Removed {key} from the incoming file: not set before, so the defaults still apply.")
    for warning in result.warnings:
        lines.append(f"warning: {warning}")
    if "commit" in report and report["unchanged"]:
        lines.append(f"{report['output']} is already upgraded: nothing to commit.")
    elif "commit" not in report and result.unchanged:
        lines.append("The incoming file already keeps these settings: written unchanged.")
    if report.get("commit"):
        lines.append(f"Committed {report['commit']} ({report['output']}).")
    elif report.get("output") not in (None, "-"):
        lines.append(f"Wrote {report['output']}.")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from provisioner._fs import write_text_atomically
    from provisioner.gitsource import Author, clean_values_file, commit_file
    from provisioner.upgrade.carry import UpgradeError, upgrade_values_text

    if args.author is not None:
        parse_author(args.author)  # a bad flag is a usage error before anything is read
        if not args.commit:
            raise UsageError("--author goes with --repo ... --commit")
    if args.repo is None and (args.commit or args.values_path is not None):
        raise UsageError("--commit and --values-path go with --repo, not with --current")
    if args.commit and args.output is not None:
        raise UsageError("-o/--output does not go with --commit (the repository's values.yaml is written)")
    if args.repo is not None and not args.commit:
        raise UsageError("--repo needs --commit (or read the file and use --current FILE -o OUT)")

    values_path = args.values_path if args.values_path is not None else DEFAULT_VALUES_PATH
    incoming = _read(args.incoming, "incoming values.yaml")
    if args.repo is not None:
        target = clean_values_file(args.repo, values_path)
        current = _read(target, "current values.yaml")
    else:
        target = None
        current = _read(args.current, "current values.yaml")
    try:
        result = upgrade_values_text(current, incoming, load_policy_from_args(args))
    except UpgradeError as exc:
        raise InvalidUpgrade(str(exc)) from exc

    report: dict[str, object] = result.to_json()
    if target is not None:
        report["output"] = str(target)
        report["commit"] = None
        report["unchanged"] = result.text == current  # the repository's file is already upgraded
        if result.text != current:
            write_text_atomically(target, result.text)
            message = commit_message(result, values_path, args.incoming)
            author = Author(*parse_author(args.author)) if args.author is not None else None
            report["commit"] = commit_file(args.repo, values_path, message, author)
    elif args.output is not None:
        write_text_atomically(args.output, result.text)
        report["output"] = str(args.output)
    else:
        report["output"] = "-"
        if args.format == "json":
            report["content"] = result.text  # the upgraded file, as stdout carries the report

    if args.format == "json":
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        if report["output"] == "-":
            sys.stdout.write(result.text)
            sys.stderr.write(_text_report(result, report))
        else:
            sys.stdout.write(_text_report(result, report))
    return int(ExitCode.OK)
