"""The audit record: one JSON line per reconcile, appended to --audit-log and logged on stderr.

Fields (issue #3): ts, event, registry, job, action, drift, actor {name, email}, commit, changes
{field: [old, new]} (old values from the live job's applied-settings record), result, error.
The event is ``backup-settings-reconciled`` for a backup job, ``drill-job-reconciled`` for a registry's
restore-drill job (same fields; its changes are the drill job's: schedule, enabled).
Nothing here ever sees a token, a password or a URL: the inputs are the request and the outcome.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from provisioner.errors import UsageError
from provisioner.jobs.reconcile import ReconcileRequest, ReconcileResult

LOG = logging.getLogger("provisioner")
EVENT = "backup-settings-reconciled"
DRILL_EVENT = "drill-job-reconciled"
_WRITE_LOCK = threading.Lock()


def audit_timestamp(now: datetime | None = None) -> str:
    """UTC to the millisecond, e.g. 2026-11-22T10:00:00.123Z."""
    ts = (now or datetime.now(UTC)).astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def audit_record(
    request: ReconcileRequest,
    result: ReconcileResult | None,
    error: str | None = None,
    now: datetime | None = None,
) -> dict[str, object]:
    """The audit object for a finished (result) or failed (error) reconcile."""
    actor = request.actor
    return {
        "ts": audit_timestamp(now),
        "event": DRILL_EVENT if request.kind == "drill" else EVENT,
        "registry": request.registry,
        "job": request.job.full_name,
        "action": result.action if result is not None else None,
        "drift": result.drift if result is not None else False,
        "actor": actor.to_json() if actor is not None else None,
        "commit": request.commit,
        "changes": dict(result.changes) if result is not None else {},
        "result": "ok" if error is None else "error",
        "error": error,
    }


def audit_line(record: dict[str, object]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def emit_audit(record: dict[str, object], path: Path | None) -> None:
    """Log the line on stderr (via the provisioner logger) and append it to ``path`` when given."""
    LOG.info("audit %s", audit_line(record))
    if path is not None:
        with AuditWriter(path) as writer:
            writer.append(record)


class AuditWriter:
    """An audit log file: opened once, one O_APPEND write per line, fsynced on close.

    ``write`` also logs the line on stderr, unchanged registries only at debug level (a nightly
    fleet run over a thousand registries would otherwise print a thousand "unchanged" lines).
    """

    def __init__(self, path: Path | None) -> None:
        self._fd: int | None = None
        if path is not None:
            try:
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            except OSError as exc:
                raise UsageError(f"cannot open audit log {path}: {exc.strerror or exc}") from exc

    def append(self, record: dict[str, object]) -> None:
        """One line in a single O_APPEND write, so concurrent writers never interleave lines."""
        if self._fd is not None:
            with _WRITE_LOCK:
                os.write(self._fd, (audit_line(record) + "\n").encode("utf-8"))

    def write(self, record: dict[str, object]) -> None:
        """Log the line on stderr and append it to the file."""
        quiet = record.get("action") == "unchanged" and record.get("result") == "ok"
        level = logging.DEBUG if quiet else logging.INFO
        if LOG.isEnabledFor(level):  # the line is not even encoded for a quiet no-op run
            LOG.log(level, "audit %s", audit_line(record))
        self.append(record)

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> AuditWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
