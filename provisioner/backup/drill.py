"""`backup-registry drill`: prove that a backup restores, by restoring it and comparing.

The backup is restored (the same code path as ``restore``) into a scratch directory and scratch
databases (``brdrill_<random>_<n>``), then compared with what was recorded **when the backup was
made**, in the archive's ``manifest.json``: every regular file's size and SHA-256, and each
database's exact row counts (taken in the dump's own snapshot). A checksum only proves the bytes
are the ones written; a drill proves they restore, and catches a backup whose data was changed
after its checksum was recorded even when the metadata was made to match.

The scratch directory and databases are always removed: on success, on failure, on SIGTERM and
on Ctrl-C; while cleaning up, further SIGINT/SIGTERM are ignored, so a second Ctrl-C cannot leave
half of the scratch behind. The restore time is the measured recovery time.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from provisioner.backup.errors import BackupFailed
from provisioner.backup.logs import LOG
from provisioner.backup.pgrestore import PgServer
from provisioner.backup.restore import Candidate, RestoreOptions, RestoreResult, restore_one

__all__ = ["DrillResult", "compare_counts", "compare_files", "drill"]

_SHOWN = 10


@dataclass
class DrillResult:
    backup_id: str
    ok: bool
    seconds: float  # the restore: the measured recovery time
    files_checked: int = 0
    tables_checked: int = 0
    differences: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.backup_id,
            "result": "ok" if self.ok else "failed",
            "restoreSeconds": round(self.seconds, 3),
            "filesChecked": self.files_checked,
            "tablesChecked": self.tables_checked,
            "differences": self.differences[:_SHOWN],
            "differenceCount": len(self.differences),
        }


def compare_files(recorded: object, restored: Mapping[bytes, tuple[int, str]]) -> list[str]:
    """Differences between the manifest's files (directory members only) and the restored files."""
    if not isinstance(recorded, list):
        return ["the manifest has no file list"]
    expected: dict[bytes, tuple[int, str]] = {}
    for entry in recorded:
        if not isinstance(entry, dict):
            return ["the manifest's file list is malformed"]
        path, size, sha = entry.get("path"), entry.get("size"), entry.get("sha256")
        if not (isinstance(path, str) and type(size) is int and isinstance(sha, str)):
            return ["the manifest's file list is malformed"]
        if path.startswith("dirs/"):
            expected[os.fsencode(path)] = (size, sha)
    out = []
    for path in sorted(set(expected) | set(restored)):
        shown = ascii(os.fsdecode(path))
        if path not in restored:
            out.append(f"file {shown}: recorded, not restored")
        elif path not in expected:
            out.append(f"file {shown}: restored, not recorded")
        elif expected[path][0] != restored[path][0]:
            out.append(f"file {shown}: {restored[path][0]} bytes, recorded {expected[path][0]}")
        elif expected[path][1] != restored[path][1]:
            out.append(f"file {shown}: content differs from the recorded SHA-256")
    return out


def compare_counts(database: str, recorded: object, restored: Mapping[str, int]) -> list[str]:
    if not isinstance(recorded, dict) or not all(type(v) is int for v in recorded.values()):
        return [f"database {database}: the manifest has no row counts"]
    out = []
    for table in sorted(set(recorded) | set(restored)):
        if table not in restored:
            out.append(f"database {database}: table {table} recorded, not restored")
        elif table not in recorded:
            out.append(f"database {database}: table {table} restored, not recorded")
        elif recorded[table] != restored[table]:
            rows = f"has {restored[table]} rows, recorded {recorded[table]}"
            out.append(f"database {database}: table {table} {rows}")
    return out


def _compare(result: RestoreResult, pg: Callable[[], PgServer], drill: DrillResult) -> None:
    manifest = result.manifest
    if not isinstance(manifest, dict) or manifest.get("version") != 1:
        drill.differences.append("the backup has no manifest (made before drills existed)")
        return
    drill.differences += compare_files(manifest.get("files"), result.digests)
    drill.files_checked = len(result.digests)
    recorded_dbs = manifest.get("databases")
    recorded_dbs = recorded_dbs if isinstance(recorded_dbs, dict) else {}
    restored = {str(row["database"]): str(row["target"]) for row in result.databases}
    for database in sorted(set(recorded_dbs) | set(restored)):
        if database not in restored:
            drill.differences.append(f"database {database}: recorded, not restored")
            continue
        entry = recorded_dbs.get(database)
        tables = entry.get("tables") if isinstance(entry, dict) else None
        counts = pg().row_counts(restored[database])
        drill.tables_checked += len(counts)
        drill.differences += compare_counts(database, tables, counts)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # From the first signal on, further ones are ignored: the cleanup must not be cut short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM and SIGINT stop the drill once (the cleanup in ``finally`` runs), then are ignored."""
    previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def drill(
    candidates: Sequence[Candidate],
    backup_id: str | None,
    pg: Callable[[], PgServer],
    registry: str,
    scratch_parent: Path | None = None,
) -> DrillResult:
    """Restore one backup (``backup_id``, else the newest) into scratch, compare, clean up."""
    chosen = [c for c in candidates if backup_id is None or c.id == backup_id][:1]
    if not chosen:
        which = f"backup {backup_id!r}" if backup_id else "backup"
        raise BackupFailed(f"registry {registry!r} has no {which} to drill")
    cand = chosen[0]
    token = secrets.token_hex(4)
    scratch_dbs: list[str] = []

    def scratch_db(database: str) -> str:
        scratch_dbs.append(f"brdrill_{token}_{len(scratch_dbs)}")
        return scratch_dbs[-1]

    started = time.monotonic()
    result = DrillResult(cand.id, False, 0.0)
    with _signals_raise():
        scratch = Path(tempfile.mkdtemp(prefix="backup-registry-drill-", dir=scratch_parent))
        try:
            LOG.info("drill started", extra={"registry": registry, "id": cand.id, "scratch": str(scratch)})
            opts = RestoreOptions(to=scratch / "restore", db_target=scratch_db, digests=True)
            try:
                restored = restore_one(cand, opts, pg)
            except BackupFailed as exc:
                result.seconds = time.monotonic() - started
                result.differences.append(f"restore failed: {exc}")
                return result
            result.seconds = restored.seconds
            _compare(restored, pg, result)
            result.ok = not result.differences
            return result
        finally:
            with _signals_ignored():
                for name in scratch_dbs:
                    pg().drop_quietly(name)
                shutil.rmtree(scratch, ignore_errors=True)
                LOG.info("drill scratch removed", extra={"scratch": str(scratch), "databases": scratch_dbs})
