"""`provisioner reconcile`: make the registry's backup job in Jenkins match the committed settings."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.commands._job import add_job_arguments, job_path_from_args, load_valid_settings
from provisioner.commands._target import add_target_arguments, build_target
from provisioner.errors import ExitCode, JenkinsFailure, UsageError

if TYPE_CHECKING:
    from provisioner.jobs.reconcile import ReconcileResult


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "reconcile",
        help="create or update the Create-registry-backup job in Jenkins (or a JENKINS_HOME directory)",
        description="Apply the backup settings of a registry to its Jenkins job: create it when missing, "
        "update it when its meaning differs, leave it alone otherwise. With a policy that has drills: "
        "{schedule}, the same for its Drill-registry-backup-<registry> job (beside the backup job, enabled "
        "with the backups; disabled, never deleted, when the policy has no drills). Credentials come from "
        "JENKINS_USER/JENKINS_TOKEN (or --user/--token-file). Exit 0 ok, 1 invalid settings "
        "(Jenkins not contacted), 2 usage, 3 Jenkins failure.",
    )
    add_job_arguments(parser)
    add_target_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="read only: show what would change")
    parser.add_argument(
        "--audit-log", metavar="FILE", type=Path, default=None, help="append the audit JSON line to FILE"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


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
    from provisioner.jobs.audit import audit_record, emit_audit
    from provisioner.jobs.drill import drill_job_path, reconcile_drill
    from provisioner.jobs.reconcile import ReconcileRequest, reconcile_one

    path = job_path_from_args(args)
    if args.audit_log is not None and args.audit_log.is_dir():
        raise UsageError(f"--audit-log {args.audit_log} is a directory")
    target = build_target(args)  # usage errors (URL, credentials) before reading values
    loaded = load_valid_settings(args)
    if loaded is None:
        return int(ExitCode.INVALID_SETTINGS)  # Jenkins not contacted at all
    source, settings, policy = loaded
    request = ReconcileRequest(
        registry=args.registry,
        settings=settings,
        source=source,
        job=path,
        dry_run=args.dry_run,
        repo_dir=args.repo,
        jobs=policy.jobs,
    )
    try:
        result = reconcile_one(target, request)
    except JenkinsFailure as exc:
        if not args.dry_run:
            emit_audit(audit_record(request, None, error=exc.message), args.audit_log)
        raise
    if not args.dry_run:
        emit_audit(audit_record(request, result), args.audit_log)
    # The drill job after the backup job: a failure here leaves the backup job applied and audited.
    try:
        drill = reconcile_drill(target, request, policy.drills)
    except JenkinsFailure as exc:
        failed = dataclasses.replace(request, job=drill_job_path(path, args.registry), kind="drill")
        if not args.dry_run:
            emit_audit(audit_record(failed, None, error=exc.message), args.audit_log)
        _print(result, None, args.format)
        raise
    if drill is not None and not args.dry_run:
        emit_audit(audit_record(*drill), args.audit_log)
    _print(result, drill[1] if drill is not None else None, args.format)
    return int(ExitCode.OK)


def _print(result: ReconcileResult, drill: ReconcileResult | None, form: str) -> None:
    """The backup job's result; the drill job's after it (text) or as its "drill" member (JSON), only
    when there is a drill job: without drills the output is what it always was."""
    if form == "json":
        data = result.to_json()
        if drill is not None:
            data["drill"] = drill.to_json()
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(_text(result))
        if drill is not None:
            print(_text(drill))
    sys.stdout.flush()
