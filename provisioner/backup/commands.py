"""Carry out a validated request: pick the backend, run the subcommand, print the result."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

from provisioner.backup.archive import PgDumpSource
from provisioner.backup.backends.archive import ArchiveBackend
from provisioner.backup.backends.restic import ResticBackend
from provisioner.backup.backends.velero import VeleroBackend
from provisioner.backup.errors import BackupFailed
from provisioner.backup.logs import LOG
from provisioner.backup.outcome import ListedBackup, RunOutcome
from provisioner.backup.procs import LIBPQ_ENV, child_env, resolve_tool
from provisioner.backup.request import Request
from provisioner.backup.store import new_backup_id

__all__ = ["execute"]

Backend = ArchiveBackend | ResticBackend | VeleroBackend


def _backend(request: Request, environ: Mapping[str, str]) -> Backend:
    if request.backend == "archive":
        assert request.store is not None
        return ArchiveBackend(
            store=request.store,
            registry=request.registry,
            lock_timeout=request.lock_timeout,
            verify_after_write=request.verify,
        )
    if request.backend == "restic":
        assert request.restic_repo is not None
        return ResticBackend(
            restic=resolve_tool("restic", environ.get("PATH")),
            repo=request.restic_repo,
            registry=request.registry,
            environ=environ,
            verify_after_write=request.verify,
        )
    assert request.namespace is not None
    return VeleroBackend(
        velero=resolve_tool("velero", environ.get("PATH")),
        registry=request.registry,
        namespace=request.namespace,
        environ=environ,
    )


def _print_run(outcome: RunOutcome, output: str, out: TextIO) -> None:
    import json

    if output == "json":
        out.write(json.dumps(outcome.to_json(), ensure_ascii=True) + "\n")
        return
    data = outcome.to_json()
    out.write(
        f"backup {data['id']} of registry {data['registry']} ({data['backend']}) "
        f"created {data['createdAt']}, expires {data['expiresAt']}\n"
    )
    if data["sha256"] is not None:
        out.write(f"  sha256 {data['sha256']}, {data['sizeBytes']} bytes\n")
    out.write(f"  pruned: {', '.join(outcome.pruned) if outcome.pruned else 'none'}\n")


def _print_list(items: list[ListedBackup], output: str, out: TextIO) -> None:
    import json

    if output == "json":
        out.write(json.dumps([i.to_json() for i in items], ensure_ascii=True) + "\n")
        return
    if not items:
        out.write("no backups\n")
    for item in items:
        data = item.to_json()
        size = "-" if data["sizeBytes"] is None else str(data["sizeBytes"])
        out.write(f"{data['id']}  created {data['createdAt']}  expires {data['expiresAt']}  {size} bytes\n")


def execute(request: Request, environ: Mapping[str, str], out: TextIO) -> int:
    backend = _backend(request, environ)
    now = request.now or datetime.now(UTC)
    if request.command == "run":
        assert request.hours is not None
        if isinstance(backend, VeleroBackend):
            outcome = backend.run(hours=request.hours, now=now, backup_id=new_backup_id(now, set()))
        else:
            databases = []
            if request.databases:
                pg_dump = resolve_tool("pg_dump", environ.get("PATH"))
                pg_env = child_env(environ, LIBPQ_ENV)
                databases = [PgDumpSource(db, pg_dump, pg_env) for db in request.databases]
            outcome = backend.run(
                hours=request.hours, dirs=request.dirs, databases=databases, now=now, prune=request.prune
            )
        if request.prune and isinstance(backend, VeleroBackend):
            backend.prune(now)
        _print_run(outcome, request.output, out)
        return 0
    if request.command == "list":
        _print_list(backend.list(), request.output, out)
        return 0
    if request.command == "verify":
        result = backend.verify(request.backup_id)
        for backup_id, ok in result.checked:
            out.write(f"{backup_id}  {'ok' if ok else 'CORRUPT'}\n")
        if not result.checked:
            raise BackupFailed(f"registry {request.registry!r} has no backups to verify")
        if not result.ok:
            bad = [i for i, ok in result.checked if not ok]
            raise BackupFailed(f"{len(bad)} backup(s) failed verification: {', '.join(bad)}")
        return 0
    assert request.command == "prune"
    pruned = backend.prune(now)
    for backup_id in pruned.pruned:
        out.write(f"pruned {backup_id}\n")
    if pruned.kept_newest_verified:
        out.write(f"kept newest verified {pruned.kept_newest_verified}\n")
    for name, why in sorted(pruned.unaccounted.items()):
        out.write(f"not deleted (not ours): {name!a}: {why}\n")
    LOG.info("prune finished", extra={"registry": request.registry, "pruned": pruned.pruned})
    return 0
