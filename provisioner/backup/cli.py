"""`backup-registry`: argparse, input validation (all of it before anything runs), dispatch.

Exit codes: 0 ok; 1 invalid input (nothing ran, nothing was created); 2 usage (argparse);
3 backup, verify or prune failed (nothing partial left); 70 internal error (a bug); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from provisioner import __version__, clock
from provisioner.backup import inputs
from provisioner.backup.errors import BackupFailed, InvalidInput
from provisioner.backup.logs import LOG, configure_logging
from provisioner.backup.request import Request
from provisioner.error_handler import ArgumentParser, guarded
from provisioner.errors import ProvisionerError

__all__ = ["build_parser", "main"]

_DEFAULT_STORE = "./backups"
_BACKENDS = ("archive", "restic", "velero")
_PROG = "backup-registry"


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=_PROG,
        description="Make, list, verify and prune a registry's backups (archive, restic or velero).",
        epilog="Exit codes: 0 ok, 1 invalid input, 2 usage, 3 backup/verify/prune failed, "
        "70 internal error (a bug), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--registry", help="registry name, a DNS-1123 label (default: $REGISTRY_NAME)")
        p.add_argument(
            "--backend", choices=_BACKENDS, default=None, help="default: $BACKUP_BACKEND, else archive"
        )
        p.add_argument(
            "--store",
            default=None,
            help=f"archive store directory (default: $BACKUP_STORE, else {_DEFAULT_STORE})",
        )
        p.add_argument("--restic-repo", default=None, help="restic repository (default: $RESTIC_REPOSITORY)")
        p.add_argument(
            "--k8s-namespace", default=None, help="velero: namespace to back up (default: the registry name)"
        )
        p.add_argument(
            "--lock-timeout", default="300", help="archive: seconds to wait for another run (default 300)"
        )

    def metrics(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--metrics-file",
            metavar="FILE",
            help="write Prometheus metrics (node_exporter textfile, name ending .prom) to FILE, "
            "keeping other registries' samples (default: $BACKUP_METRICS_FILE)",
        )

    run = sub.add_parser("run", help="make a backup, verify it, then prune expired ones")
    common(run)
    metrics(run)
    run.add_argument("--expires-in-hours", help="168..87600 (default: $EXPIRES_IN_HOURS)")
    run.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="DIR",
        help="directory to back up (repeatable; default: $BACKUP_SOURCES, ':'-separated)",
    )
    run.add_argument(
        "--pg-database",
        action="append",
        default=[],
        metavar="NAME",
        help="PostgreSQL database (repeatable; default: $BACKUP_PG_DATABASES, ','-separated)",
    )
    run.add_argument(
        "--jobs",
        metavar="N",
        help="PostgreSQL databases dumped at once, 1..16 (default: the CPUs this process may use)",
    )
    run.add_argument("--no-prune", action="store_true", help="do not prune after the backup")
    run.add_argument("--no-verify", action="store_true", help="skip the read-back verify (not recommended)")
    run.add_argument("--now", help="fixed clock (ISO 8601 with zone), for tests and replays")
    run.add_argument("--format", choices=("text", "json"), default="text")

    lst = sub.add_parser("list", help="list the registry's backups, newest first")
    common(lst)
    lst.add_argument("--format", choices=("text", "json"), default="text")

    ver = sub.add_parser("verify", help="re-check the checksums of one or all backups")
    common(ver)
    metrics(ver)
    ver.add_argument("--id", help="only this backup")

    prn = sub.add_parser("prune", help="delete the registry's expired backups (never the newest verified)")
    common(prn)
    metrics(prn)
    prn.add_argument("--now", help="fixed clock (ISO 8601 with zone)")

    ntf = sub.add_parser(
        "notify",
        help="post a JSON notification to $BACKUP_NOTIFY_URL (always exits 0 once the input is valid)",
    )
    ntf.add_argument("--registry", help="registry name (default: $REGISTRY_NAME)")
    ntf.add_argument("--result", required=True, choices=("failure", "fixed", "success"))
    png = sub.add_parser(
        "ping",
        help="ping the dead man's switch at $BACKUP_PING_URL (always exits 0)",
    )
    png.add_argument("--event", required=True, choices=("start", "success", "failure"))
    rst = sub.add_parser(
        "restore", help="restore a backup into a new directory and new databases (verified first)"
    )
    common(rst)
    pick = rst.add_mutually_exclusive_group(required=True)
    pick.add_argument("--id", help="this backup (refused if it does not verify)")
    pick.add_argument("--latest", action="store_true", help="the newest backup that verifies")
    pick.add_argument("--before", metavar="ISO8601", help="the newest that verifies, made at or before")
    rst.add_argument("--to", metavar="DIR", help="restore directories under DIR (new or empty)")
    rst.add_argument(
        "--pg-database-map",
        action="append",
        default=[],
        metavar="SRC=DEST",
        help="restore database SRC as DEST (default: <db>_restored_<id>; repeatable)",
    )
    rst.add_argument(
        "--to-namespace", metavar="NS", help="velero: restore into NS (default: <ns>-restored-<UTC stamp>)"
    )
    rst.add_argument("--dry-run", action="store_true", help="check everything, print the plan, write nothing")
    rst.add_argument(
        "--force", action="store_true", help="allow a non-empty --to and existing databases (never deletes)"
    )
    rst.add_argument("--format", choices=("text", "json"), default="text")

    drl = sub.add_parser(
        "drill", help="prove a backup restores: restore into scratch, compare with its manifest, clean up"
    )
    common(drl)
    which = drl.add_mutually_exclusive_group()
    which.add_argument("--id", help="this backup")
    which.add_argument("--latest", action="store_true", help="the newest backup (the default)")
    drl.add_argument("--format", choices=("text", "json"), default="text")
    metrics(drl)
    return parser


def _tell(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """`notify` and `ping`: bounded, and never a failure once the input is valid (the URL is not input)."""
    from provisioner.backup import notify

    if args.command == "ping":
        if notify.ping_from_env(environ, args.event) is None:
            LOG.info(f"{notify.PING_ENV} is not set: no ping")
        return 0
    registry = inputs.check_registry(
        args.registry if args.registry is not None else environ.get("REGISTRY_NAME"),
        "--registry" if args.registry is not None else "REGISTRY_NAME",
    )
    if notify.notify_from_env(environ, registry, args.result) is None:
        LOG.info(f"{notify.NOTIFY_ENV} is not set: no notification")
    return 0


def _default_jobs() -> int:
    return max(1, min(inputs.MAX_JOBS, len(os.sched_getaffinity(0))))


def parse_now(value: str, argument: str = "--now") -> datetime:
    """:func:`provisioner.clock.parse_instant` (the grammar both CLIs share), in UTC."""
    try:
        return clock.parse_instant(value).astimezone(UTC)
    except clock.InvalidInstant as exc:
        raise InvalidInput(argument, str(exc)) from None


def validate(args: argparse.Namespace, environ: Mapping[str, str]) -> Request:
    """Turn parsed arguments (+ the environment fallbacks) into a Request, or raise InvalidInput."""
    registry = inputs.check_registry(
        args.registry if args.registry is not None else environ.get("REGISTRY_NAME"),
        "--registry" if args.registry is not None else "REGISTRY_NAME",
    )
    lock_text = args.lock_timeout
    if not (lock_text.isascii() and lock_text.isdigit() and len(lock_text) <= 5):
        raise InvalidInput("--lock-timeout", f"{lock_text[:40]!a} is not whole seconds (0..99999)")
    backend = args.backend
    if backend is None:
        backend = environ.get("BACKUP_BACKEND") or "archive"
        if backend not in _BACKENDS:
            raise InvalidInput("BACKUP_BACKEND", f"{backend[:40]!a} is not one of {', '.join(_BACKENDS)}")
    fields: dict[str, object] = {
        "command": args.command,
        "registry": registry,
        "backend": backend,
        "lock_timeout": float(int(lock_text)),
    }
    if backend == "archive":
        if args.store is not None:
            fields["store"] = inputs.check_store(args.store)
        elif environ.get("BACKUP_STORE"):
            fields["store"] = inputs.check_store(environ["BACKUP_STORE"], "BACKUP_STORE")
        else:
            fields["store"] = inputs.check_store(_DEFAULT_STORE)
        inputs.registry_dir(fields["store"], registry)  # type: ignore[arg-type]
    elif args.store is not None:
        raise InvalidInput("--store", "only the archive backend uses a store")
    if backend == "restic":
        if args.restic_repo is not None:
            fields["restic_repo"] = inputs.check_restic_repo(args.restic_repo, "--restic-repo")
        else:
            fields["restic_repo"] = inputs.check_restic_repo(
                environ.get("RESTIC_REPOSITORY"),
                "RESTIC_REPOSITORY" if environ.get("RESTIC_REPOSITORY") else "--restic-repo",
            )
        pw_file = environ.get("RESTIC_PASSWORD_FILE")
        if pw_file is not None:
            inputs.check_password_file(pw_file, "RESTIC_PASSWORD_FILE")
        elif not environ.get("RESTIC_PASSWORD"):
            raise InvalidInput(
                "RESTIC_PASSWORD_FILE", "set RESTIC_PASSWORD_FILE (or RESTIC_PASSWORD) for restic"
            )
    elif args.restic_repo is not None:
        raise InvalidInput("--restic-repo", "only the restic backend uses a restic repository")
    if backend == "velero":
        ns = args.k8s_namespace if args.k8s_namespace is not None else registry
        fields["namespace"] = inputs.check_registry(ns, "--k8s-namespace")
    elif args.k8s_namespace is not None:
        raise InvalidInput("--k8s-namespace", "only the velero backend backs up a namespace")

    if args.command == "run":
        fields["hours"] = inputs.check_expires_in_hours(
            args.expires_in_hours if args.expires_in_hours is not None else environ.get("EXPIRES_IN_HOURS"),
            "--expires-in-hours" if args.expires_in_hours is not None else "EXPIRES_IN_HOURS",
        )
        sources, databases_text = list(args.source), list(args.pg_database)
        source_arg, db_arg = "--source", "--pg-database"
        if not sources and not databases_text and backend != "velero":
            # The Jenkins job passes only the registry and the expiry; what to back up is the agent's
            # configuration (node environment variables).
            if environ.get("BACKUP_SOURCES"):
                sources, source_arg = environ["BACKUP_SOURCES"].split(":"), "BACKUP_SOURCES"
            if environ.get("BACKUP_PG_DATABASES"):
                databases_text, db_arg = environ["BACKUP_PG_DATABASES"].split(","), "BACKUP_PG_DATABASES"
        if backend == "velero":
            if args.source or args.pg_database:
                raise InvalidInput("--source/--pg-database", "the velero backend backs up a namespace only")
            if args.jobs is not None:
                raise InvalidInput("--jobs", "the velero backend dumps no database")
        else:
            if not sources and not databases_text:
                raise InvalidInput(
                    "--source/--pg-database", "give at least one --source DIR or --pg-database NAME"
                )
            dirs = tuple(inputs.check_source_dir(s, source_arg) for s in sources)
            if len(set(dirs)) != len(dirs):
                raise InvalidInput("--source", "the same directory is given twice")
            store = fields.get("store")
            for d in dirs:
                if isinstance(store, Path) and (store == d or store.is_relative_to(d)):
                    raise InvalidInput("--source", f"{str(d)!a} contains the backup store")
            fields["dirs"] = dirs
            databases = tuple(inputs.check_pg_database(db, db_arg) for db in databases_text)
            if len(set(databases)) != len(databases):
                raise InvalidInput("--pg-database", "the same database is given twice")
            fields["databases"] = databases
            fields["jobs"] = inputs.check_jobs(args.jobs) if args.jobs is not None else _default_jobs()
        fields["prune"] = not args.no_prune
        fields["verify"] = not args.no_verify
        fields["output"] = args.format
    if args.command in ("run", "prune") and args.now is not None:
        fields["now"] = parse_now(args.now)
    if args.command in ("run", "prune", "verify", "drill"):
        if args.metrics_file is not None:
            fields["metrics_file"] = inputs.check_metrics_file(args.metrics_file)
        elif environ.get("BACKUP_METRICS_FILE"):
            fields["metrics_file"] = inputs.check_metrics_file(
                environ["BACKUP_METRICS_FILE"], "BACKUP_METRICS_FILE"
            )
    if args.command == "list":
        fields["output"] = args.format
    if args.command == "restore":
        _validate_restore(args, fields)
    if args.command == "drill":
        if backend == "velero":
            raise InvalidInput(
                "--backend", "drill supports the archive and restic backends (velero: not yet)"
            )
        if args.id is not None:
            fields["backup_id"] = inputs.check_backup_id(args.id)
        fields["latest"] = args.id is None
        fields["output"] = args.format
    if args.command == "verify" and args.id is not None:  # (restore and drill: above)
        fields["backup_id"] = (
            inputs.check_registry(args.id, "--id") if backend == "velero" else inputs.check_backup_id(args.id)
        )
    return Request(**fields)  # type: ignore[arg-type]


def _validate_restore(args: argparse.Namespace, fields: dict[str, object]) -> None:
    velero = fields["backend"] == "velero"
    if velero:
        for flag, given in (
            ("--to", args.to),
            ("--pg-database-map", args.pg_database_map),
            ("--force", args.force),
        ):
            if given:
                raise InvalidInput(flag, "the velero backend restores a namespace (see --to-namespace)")
        if args.to_namespace is not None:
            fields["to_namespace"] = inputs.check_registry(args.to_namespace, "--to-namespace")
    elif args.to_namespace is not None:
        raise InvalidInput("--to-namespace", "only the velero backend restores a namespace")
    if args.id is not None:
        fields["backup_id"] = (
            inputs.check_registry(args.id, "--id") if velero else inputs.check_backup_id(args.id)
        )
    elif args.before is not None:
        fields["before"] = parse_now(args.before, "--before")
    else:
        fields["latest"] = True
    if args.to is not None:
        to = inputs.check_restore_target(args.to, args.force)
        store = fields.get("store")
        if isinstance(store, Path) and (to == store or to.is_relative_to(store) or store.is_relative_to(to)):
            raise InvalidInput("--to", f"{str(to)!a} overlaps the backup store")
        fields["to"] = to
    fields["db_map"] = inputs.check_pg_database_map(list(args.pg_database_map))
    fields["dry_run"] = args.dry_run
    fields["force"] = args.force
    fields["output"] = args.format


def _execute(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Validate everything, then run; domain errors are logged as a JSON line, then raised on."""
    try:
        if args.command in ("notify", "ping"):
            return _tell(args, environ)
        request = validate(args, environ)
    except InvalidInput as exc:
        LOG.error("invalid input", extra={"argument": exc.argument, "reason": exc.reason})
        raise
    from provisioner.backup.commands import execute

    try:
        return execute(request, environ, sys.stdout)
    except ProvisionerError as exc:
        LOG.error("failed", extra={"error": exc.message})
        raise
    except OSError as exc:  # translated where it enters: a backup that could not be made is a failure
        message = f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc.strerror or exc)
        LOG.error("failed", extra={"error": message})
        raise BackupFailed(message) from exc


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one command; the exit code (argparse's usage errors included, never an exception)."""

    def body() -> int:
        args = build_parser().parse_args(argv)  # exits 2 on usage errors
        configure_logging(verbose=args.verbose)
        return _execute(args, os.environ if environ is None else environ)

    return guarded(_PROG, argv, body)


if __name__ == "__main__":
    raise SystemExit(main())
