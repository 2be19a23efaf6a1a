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
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.commands._source import add_policy_argument, load_policy_from_args
from provisioner.errors import ExitCode, ProvisionerError, UsageError

if TYPE_CHECKING:
    from provisioner.upgrade.carry import UpgradeResult

ORDER = 60
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


def write_atomically(target: Path, text: str) -> None:
    """Temp file in the target's directory, fsync, rename; keeps an existing file's mode."""
    directory = target.parent if str(target.parent) else Path(".")
    try:
        info = target.lstat()
        if not stat.S_ISREG(info.st_mode):  # never rename over a device, a pipe or a symlink
            raise UsageError(f"cannot write {target}: not a regular file")
        mode = info.st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _git_executable() -> str:
    found = shutil.which("git")
    if found is None:
        raise UsageError("git is not installed (needed for --repo)")
    return os.path.abspath(found)


def _git(repo: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(
            [_git_executable(), *args],
            cwd=repo,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"git {args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise UsageError(
            f"git {args[0]} failed in {repo}: {detail[-1] if detail else 'exit ' + str(done.returncode)}"
        )
    return done.stdout


def _repo_values(repo: Path, values_path: str) -> Path:
    if not repo.is_dir():
        raise UsageError(f"repository directory not found: {repo}")
    rel = Path(values_path)
    if rel.is_absolute() or ".." in rel.parts or not values_path.strip():
        raise UsageError(f"invalid values path {values_path!r}: give a relative path inside the repository")
    top = _git(repo, "rev-parse", "--show-toplevel").strip()
    if Path(top).resolve() != repo.resolve():
        raise UsageError(f"{repo} is not the top directory of a git repository (that is {top})")
    target = repo / rel
    if not target.is_file():
        raise UsageError(f"{values_path} not found in {repo}")
    status = _git(repo, "status", "--porcelain", "--", values_path)
    if status.strip():
        raise UsageError(
            f"{values_path} has uncommitted changes in {repo}; commit or discard them first "
            "(the upgrade starts from the committed file)"
        )
    return target


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


def _commit(repo: Path, values_path: str, message: str, author: str | None) -> str:
    env = dict(os.environ)
    args = ["commit", "-q", "--no-edit", "-F", "-"]
    if author is not None:
        name, email = parse_author(author)
        env.update(
            GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email
        )
    _git(repo, *args, "--", values_path, env=env, stdin=message)
    return _git(repo, "rev-parse", "HEAD").strip()


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
        target = _repo_values(args.repo, values_path)
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
            write_atomically(target, result.text)
            message = commit_message(result, values_path, args.incoming)
            report["commit"] = _commit(args.repo, values_path, message, args.author)
    elif args.output is not None:
        write_atomically(args.output, result.text)
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
