"""Carry out `restore` and `drill` requests: pick the backup, run it, print the result, audit it."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TextIO

from provisioner.backup.backends.archive import ArchiveBackend
from provisioner.backup.backends.restic import ResticBackend
from provisioner.backup.backends.velero import VeleroBackend
from provisioner.backup.errors import BackupFailed, InvalidInput
from provisioner.backup.logs import LOG
from provisioner.backup.pgrestore import PgServer
from provisioner.backup.procs import LIBPQ_ENV, child_env, resolve_tool
from provisioner.backup.request import Request
from provisioner.backup.restore import RestoreOptions, RestoreResult, restore

__all__ = ["run_drill", "run_restore"]

Backend = ArchiveBackend | ResticBackend | VeleroBackend


def _who(environ: Mapping[str, str]) -> str:
    """Who asked: the Jenkins build user (build-user-vars plugin), else the login name."""
    for name in ("BUILD_USER_ID", "BUILD_USER", "USER", "LOGNAME"):
        if environ.get(name):
            return environ[name][:100]
    return "unknown"


def _pg_factory(environ: Mapping[str, str]) -> Callable[[], PgServer]:
    @functools.cache
    def make() -> PgServer:
        path = environ.get("PATH")
        return PgServer(
            resolve_tool("psql", path), resolve_tool("pg_restore", path), child_env(environ, LIBPQ_ENV)
        )

    return make


def _print_restore(result: RestoreResult, output: str, out: TextIO) -> None:
    import json

    data = result.to_json()
    if output == "json":
        out.write(json.dumps(data, ensure_ascii=True) + "\n")
        return
    verb = "would restore" if result.dry_run else "restored"
    out.write(f"{verb} backup {result.backup_id} ({data['seconds']} s)\n")
    for skipped_id, why in result.skipped:
        out.write(f"  WARNING: skipped backup {skipped_id}, it does not verify: {why}\n")
    for tree in data["directories"]:  # type: ignore[attr-defined]
        where = result.to / tree["name"] if result.to is not None else tree["name"]
        counts = f"{tree['entries']} entries, {tree['bytes']} bytes"
        out.write(f"  directory {tree['name']} -> {str(where)!a}: {counts}\n")
    for db in result.databases:
        extra = f" (existing one renamed to {db['replaces']})" if db.get("replaces") else ""
        out.write(f"  database {db['database']} -> {db['target']}{extra}\n")
    if result.namespace is not None:
        ns = result.namespace
        out.write(f"  namespace {ns['namespace']} -> {ns['target']} (velero restore {ns['restore']})\n")


def run_restore(request: Request, backend: Backend, environ: Mapping[str, str], out: TextIO) -> int:
    opts = RestoreOptions(
        backup_id=request.backup_id,
        before=request.before,
        to=request.to,
        db_map=request.db_map,
        dry_run=request.dry_run,
        force=request.force,
    )
    started = time.monotonic()
    audit: dict[str, object] = {
        "audit": "restore",
        "who": _who(environ),
        "registry": request.registry,
        "backend": request.backend,
        "selector": request.backup_id or ("latest" if request.latest else f"before {request.before}"),
        "to": str(request.to) if request.to is not None else request.to_namespace,
        "dryRun": request.dry_run,
        "force": request.force,
    }
    result: RestoreResult | None = None
    outcome = "failed"
    try:
        if isinstance(backend, VeleroBackend):
            result = backend.restore(
                backup_id=request.backup_id,
                before=request.before,
                to_namespace=request.to_namespace,
                dry_run=request.dry_run,
                now=request.now or datetime.now(UTC),
            )
        else:
            with backend.reading():
                result = restore(backend.candidates(), opts, _pg_factory(environ), request.registry)
        outcome = "ok"
    except InvalidInput:
        outcome = "refused"  # a target that exists, a database that exists: nothing was written
        raise
    finally:
        audit["result"] = outcome
        audit["backup"] = result.backup_id if result is not None else None
        audit["databases"] = [d["target"] for d in result.databases] if result is not None else []
        if result is not None and result.namespace is not None:
            audit["to"] = result.namespace["target"]
        audit["seconds"] = round(time.monotonic() - started, 3)
        LOG.info("audit", extra=audit)
    _print_restore(result, request.output, out)
    return 0


def run_drill(
    request: Request, backend: ArchiveBackend | ResticBackend, environ: Mapping[str, str], out: TextIO
) -> int:
    import json

    from provisioner.backup.drill import drill
    from provisioner.backup.store import format_utc

    at = datetime.now(UTC)
    with backend.reading():
        result = drill(backend.candidates(), request.backup_id, _pg_factory(environ), request.registry)
        entry: dict[str, object] = {
            "at": format_utc(at),
            "result": "ok" if result.ok else "failed",
            "seconds": round(result.seconds, 3),
        }
        backend.record_drill(result.backup_id, entry)
    data = result.to_json()
    LOG.info("drill finished", extra={"registry": request.registry, **data})
    if request.output == "json":
        out.write(json.dumps(data, ensure_ascii=True) + "\n")
    else:
        verdict = "restores and matches its manifest" if result.ok else "FAILED"
        out.write(f"drill of backup {result.backup_id}: {verdict}\n")
        out.write(f"  restore took {data['restoreSeconds']} s (the measured recovery time)\n")
        out.write(f"  checked {result.files_checked} files and {result.tables_checked} tables\n")
        for line in result.differences[:10]:
            out.write(f"  difference: {line}\n")
    if not result.ok:
        first = "; ".join(result.differences[:3])
        raise BackupFailed(f"drill of backup {result.backup_id} failed: {first}")
    return 0
