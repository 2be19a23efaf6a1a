"""`provisioner reconcile`: make the registry's backup job in Jenkins match the committed settings."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.commands._job import add_job_arguments, job_path_from_args, load_valid_settings
from provisioner.exit_codes import ExitCode, JenkinsFailure, UsageError

if TYPE_CHECKING:
    from provisioner.jenkins.target import JobTarget
    from provisioner.reconcile import ReconcileResult

ORDER = 40
MAX_TOKEN_BYTES = 4096


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "reconcile",
        help="create or update the Create-registry-backup job in Jenkins (or a JENKINS_HOME directory)",
        description="Apply the backup settings of a registry to its Jenkins job: create it when missing, "
        "update it when its meaning differs, leave it alone otherwise. Credentials come from "
        "JENKINS_USER/JENKINS_TOKEN (or --user/--token-file). Exit 0 ok, 1 invalid settings "
        "(Jenkins not contacted), 2 usage, 3 Jenkins failure.",
    )
    add_job_arguments(parser)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--jenkins-url", metavar="URL", help="Jenkins base URL (private hosts only by default)"
    )
    where.add_argument(
        "--jenkins-home",
        metavar="DIR",
        type=Path,
        help="write into a JENKINS_HOME directory instead of calling Jenkins",
    )
    parser.add_argument("--dry-run", action="store_true", help="read only: show what would change")
    parser.add_argument(
        "--audit-log", metavar="FILE", type=Path, default=None, help="append the audit JSON line to FILE"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--user", metavar="NAME", default=None, help="Jenkins user (default $JENKINS_USER)")
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        type=Path,
        default=None,
        help="file holding the Jenkins API token (default $JENKINS_TOKEN)",
    )
    parser.add_argument(
        "--ca-bundle",
        metavar="FILE",
        type=Path,
        default=None,
        help="CA certificates to verify Jenkins's TLS certificate with",
    )
    parser.add_argument(
        "--allow-public-jenkins", action="store_true", help="allow a Jenkins on a public host (https only)"
    )
    parser.add_argument(
        "--timeout", metavar="SECONDS", type=float, default=30.0, help="per-request timeout (default 30)"
    )
    parser.set_defaults(handler=run)


def _credentials(args: argparse.Namespace) -> tuple[str | None, str | None]:
    user = args.user if args.user is not None else os.environ.get("JENKINS_USER") or None
    token: str | None
    if args.token_file is not None:
        try:
            with args.token_file.open("rb") as handle:
                raw = handle.read(MAX_TOKEN_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read --token-file {args.token_file}: {exc.strerror or exc}") from exc
        if len(raw) > MAX_TOKEN_BYTES:
            raise UsageError(f"--token-file {args.token_file} is too large to be a token")
        token = raw.decode("utf-8", "replace").strip() or None
    else:
        token = os.environ.get("JENKINS_TOKEN") or None
    if (user is None) != (token is None):
        raise UsageError(
            "give both a Jenkins user and a token (JENKINS_USER + JENKINS_TOKEN, or --user + --token-file)"
        )
    return user, token


def build_target(args: argparse.Namespace) -> JobTarget:
    """The target named on the command line; checks the endpoint policy before anything is sent."""
    if args.jenkins_home is not None:
        from provisioner.jenkins.home import JenkinsHomeTarget

        return JenkinsHomeTarget(args.jenkins_home)
    from provisioner.jenkins.endpoint import check_jenkins_url
    from provisioner.jenkins.http import HttpTarget
    from provisioner.jenkins.retry import RetryPolicy

    url = check_jenkins_url(args.jenkins_url, allow_public=args.allow_public_jenkins)
    if args.ca_bundle is not None and not args.ca_bundle.is_file():
        raise UsageError(f"--ca-bundle {args.ca_bundle} is not a file")
    if not 0 < args.timeout <= 600:
        raise UsageError("--timeout must be between 0 and 600 seconds")
    user, token = _credentials(args)
    return HttpTarget(
        url, username=user, token=token, ca_bundle=args.ca_bundle, retry=RetryPolicy(timeout=args.timeout)
    )


def _text(result: ReconcileResult) -> str:
    state = "enabled" if result.enabled else "disabled"
    verb = f"would be {result.action}" if result.dry_run and result.action != "unchanged" else result.action
    lines = [f"job {result.job}: {verb} ({state}; commit {result.commit or 'n/a'})"]
    if result.drift:
        lines.append("drift: the job had been edited in Jenkins" + ("" if result.dry_run else "; restored"))
    lines.extend(f"warning: {w}" for w in result.warnings)
    if result.diff:
        lines.append(result.diff.rstrip("\n"))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from provisioner.audit import audit_record, emit_audit
    from provisioner.reconcile import ReconcileRequest, reconcile_one

    path = job_path_from_args(args)
    if args.audit_log is not None and args.audit_log.is_dir():
        raise UsageError(f"--audit-log {args.audit_log} is a directory")
    target = build_target(args)  # usage errors (URL, credentials) before reading values
    loaded = load_valid_settings(args)
    if loaded is None:
        return int(ExitCode.INVALID_SETTINGS)  # Jenkins not contacted at all
    source, settings = loaded
    request = ReconcileRequest(
        registry=args.registry,
        settings=settings,
        source=source,
        job=path,
        dry_run=args.dry_run,
        repo_dir=args.repo,
    )
    try:
        result = reconcile_one(target, request)
    except JenkinsFailure as exc:
        if not args.dry_run:
            emit_audit(audit_record(request, None, error=exc.message), args.audit_log)
        raise
    if not args.dry_run:
        emit_audit(audit_record(request, result), args.audit_log)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        print(_text(result))
    sys.stdout.flush()
    return int(ExitCode.OK)
