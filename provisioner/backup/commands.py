"""Carry out a validated request: pick the backend, run the subcommand, print the result."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from provisioner.backup.backends.archive import ArchiveBackend
from provisioner.backup.backends.restic import ResticBackend
from provisioner.backup.backends.velero import VeleroBackend
from provisioner.backup.errors import BackupFailed
from provisioner.backup.ids import new_backup_id
from provisioner.backup.logs import LOG
from provisioner.backup.outcome import ListedBackup, RunOutcome
from provisioner.backup.pgdump import PgDumpSource
from provisioner.backup.procs import LIBPQ_ENV, child_env, resolve_tool
from provisioner.backup.request import Request
from provisioner.backup.restorecmd import run_drill, run_restore

if TYPE_CHECKING:
    from provisioner.backup.metrics import MetricsState

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
            jobs=request.jobs,
        )
    if request.backend == "restic":
        assert request.restic_repo is not None
        return ResticBackend(
            restic=resolve_tool("restic", environ.get("PATH")),
            repo=request.restic_repo,
            registry=request.registry,
            environ=environ,
            verify_after_write=request.verify,
            jobs=request.jobs,
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
        drills = ""
        if item.last_good_drill is not None:
            good = item.last_good_drill
            drills = f"  drilled ok {good['at']} ({good['seconds']} s)"
        if item.last_drill is not None and item.last_drill["result"] != "ok":
            drills += f"  LAST DRILL FAILED {item.last_drill['at']}"
        out.write(
            f"{data['id']}  created {data['createdAt']}  expires {data['expiresAt']}  {size} bytes{drills}\n"
        )


def execute(request: Request, environ: Mapping[str, str], out: TextIO) -> int:
    """Carry out the request; record metrics (when a metrics file is set) and notify (when a URL is set)."""
    now = request.now or datetime.now(UTC)
    started = time.monotonic()
    try:
        backend = _backend(request, environ)
        values, backup_id = _carry_out(request, backend, environ, now, out)
    except BaseException as exc:  # ^C and SIGTERM (timeout) too: the run did fail
        if request.command == "run":
            _after_failed_run(request, environ, now.timestamp() + time.monotonic() - started, exc)
        raise
    if request.command == "run":
        values["duration_seconds"] = time.monotonic() - started
        values["last_success_timestamp_seconds"] = now.timestamp() + values["duration_seconds"]
    before = _record(request, values, environ)
    if request.command == "run" and before is not None and _was_failing(before, request.registry):
        from provisioner.backup.notify import notify_from_env

        notify_from_env(environ, request.registry, "fixed", backup_id=backup_id)
    return 0


def _record(request: Request, values: dict[str, float], environ: Mapping[str, str]) -> MetricsState | None:
    """Write this invocation's samples to the metrics file and push them to $BACKUP_PUSHGATEWAY_URL."""
    if not values:
        return None
    from provisioner.backup.metrics import PUSHGATEWAY_ENV, push, record

    gateway = environ.get(PUSHGATEWAY_ENV)
    if gateway:
        push(gateway, request.registry, values)
    if request.metrics_file is None:
        return None
    return record(request.metrics_file, request.registry, values)


def _was_failing(before: MetricsState, registry: str) -> bool:
    failure = before.get("last_failure_timestamp_seconds", {}).get(registry)
    success = before.get("last_success_timestamp_seconds", {}).get(registry)
    return failure is not None and (success is None or failure > success)


def _after_failed_run(request: Request, environ: Mapping[str, str], ended: float, exc: BaseException) -> None:
    """A failed run moves only the attempt and failure timestamps, then tells $BACKUP_NOTIFY_URL."""
    start = (request.now or datetime.now(UTC)).timestamp()
    _record(
        request,
        {"last_attempt_timestamp_seconds": start, "last_failure_timestamp_seconds": max(ended, start)},
        environ,
    )
    from provisioner.backup.notify import notify_from_env

    notify_from_env(environ, request.registry, "failure", error_class=type(exc).__name__)


def _metrics_wanted(request: Request, environ: Mapping[str, str]) -> bool:
    """Listing the store costs a scan (or a restic/velero call): only when the samples go somewhere."""
    from provisioner.backup.metrics import PUSHGATEWAY_ENV

    return request.metrics_file is not None or bool(environ.get(PUSHGATEWAY_ENV))


def _store_values(request: Request, backend: Backend) -> dict[str, float]:
    """What the store holds now: backups kept, oldest restore point, and (archive) the file system's room."""
    values: dict[str, float] = {}
    items = backend.list()
    values["backups_kept"] = len(items)
    if items:
        values["oldest_restore_point_timestamp_seconds"] = min(i.created_at for i in items).timestamp()
    if request.store is not None and request.store.is_dir():
        fs = os.statvfs(request.store)
        values["store_free_bytes"] = fs.f_bavail * fs.f_frsize
        values["store_size_bytes"] = fs.f_blocks * fs.f_frsize
    return values


def _carry_out(
    request: Request, backend: Backend, environ: Mapping[str, str], now: datetime, out: TextIO
) -> tuple[dict[str, float], str | None]:
    """Run the subcommand; returns the metrics a success sets and the new backup's id (raises on failure)."""
    if request.command == "run":
        assert request.hours is not None
        if isinstance(backend, VeleroBackend):
            outcome = backend.run(hours=request.hours, now=now, backup_id=new_backup_id(now, set()))
        else:
            databases = []
            if request.databases:
                pg_dump = resolve_tool("pg_dump", environ.get("PATH"))
                pg_env = child_env(environ, LIBPQ_ENV)
                psql = resolve_tool("psql", environ.get("PATH"))
                databases = [PgDumpSource(db, pg_dump, pg_env, psql) for db in request.databases]
            outcome = backend.run(
                hours=request.hours, dirs=request.dirs, databases=databases, now=now, prune=request.prune
            )
        if request.prune and isinstance(backend, VeleroBackend):
            backend.prune(now)
        _print_run(outcome, request.output, out)
        values = {"last_attempt_timestamp_seconds": now.timestamp()}
        if outcome.backup.size_bytes is not None:
            values["size_bytes"] = outcome.backup.size_bytes
        if request.verify and not isinstance(backend, VeleroBackend):
            values["last_verified_timestamp_seconds"] = now.timestamp()  # verified right after writing
        if _metrics_wanted(request, environ):
            values |= _store_values(request, backend)
        return values, outcome.backup.id
    if request.command == "restore":
        run_restore(request, backend, environ, out)
        return {}, None
    if request.command == "drill":
        assert not isinstance(backend, VeleroBackend)
        run_drill(request, backend, environ, out)  # raises on a mismatch or a failed restore
        return {"last_drill_success_timestamp_seconds": datetime.now(UTC).timestamp()}, None
    if request.command == "list":
        _print_list(backend.list(), request.output, out)
        return {}, None
    if request.command == "verify":
        result = backend.verify(request.backup_id)
        for backup_id, ok in result.checked:
            out.write(f"{backup_id}  {'ok' if ok else 'CORRUPT'}\n")
        if not result.checked:
            raise BackupFailed(f"registry {request.registry!r} has no backups to verify")
        if not result.ok:
            bad = [i for i, ok in result.checked if not ok]
            raise BackupFailed(f"{len(bad)} backup(s) failed verification: {', '.join(bad)}")
        return {"last_verified_timestamp_seconds": now.timestamp()}, None
    assert request.command == "prune"
    pruned = backend.prune(now)
    for backup_id in pruned.pruned:
        out.write(f"pruned {backup_id}\n")
    if pruned.kept_newest_verified:
        out.write(f"kept newest verified {pruned.kept_newest_verified}\n")
    for name, why in sorted(pruned.unaccounted.items()):
        out.write(f"not deleted (not ours): {name!a}: {why}\n")
    LOG.info("prune finished", extra={"registry": request.registry, "pruned": pruned.pruned})
    return (_store_values(request, backend) if _metrics_wanted(request, environ) else {}), None
