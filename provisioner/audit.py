"""The audit record: one JSON line per reconcile, appended to --audit-log and logged on stderr.

Fields (issue #3): ts, event, registry, job, action, drift, actor {name, email}, commit, changes
{field: [old, new]} (old values from the live job's applied-settings record), result, error.
Nothing here ever sees a token, a password or a URL: the inputs are the request and the outcome.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from provisioner.exit_codes import UsageError
from provisioner.reconcile import ReconcileRequest, ReconcileResult

LOG = logging.getLogger("provisioner")
EVENT = "backup-settings-reconciled"
_WRITE_LOCK = threading.Lock()


def audit_record(
    request: ReconcileRequest,
    result: ReconcileResult | None,
    error: str | None = None,
    now: datetime | None = None,
) -> dict[str, object]:
    """The audit object for a finished (result) or failed (error) reconcile."""
    ts = (now or datetime.now(UTC)).astimezone(UTC)
    actor = request.actor
    return {
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
        "event": EVENT,
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


def append_audit(path: Path, record: dict[str, object]) -> None:
    """Append one line in a single write (O_APPEND), so concurrent writers never interleave lines."""
    data = (audit_line(record) + "\n").encode("utf-8")
    with _WRITE_LOCK:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise UsageError(f"cannot open audit log {path}: {exc.strerror or exc}") from exc
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def emit_audit(record: dict[str, object], path: Path | None) -> None:
    """Log the line on stderr (via the provisioner logger) and append it to ``path`` when given."""
    LOG.info("audit %s", audit_line(record))
    if path is not None:
        append_audit(path, record)
