"""Exact row counts taken in the same snapshot as the dump (for the backup's manifest and drills).

A ``psql`` session opens a ``REPEATABLE READ READ ONLY`` transaction and exports its snapshot
(``pg_export_snapshot()``); ``pg_dump --snapshot=<id>`` then dumps exactly what that transaction
sees, while the same session counts every user table with ``count(*)`` (one statement, through
``query_to_xml``). Both read the same snapshot, so the counts are what the dump holds, not an
estimate. The transaction stays open until the dump is done (an exported snapshot lives only as
long as its transaction), then it is committed (read only: nothing changes).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from provisioner.backup.errors import BackupFailed
from provisioner.backup.procs import Tool

__all__ = ["HeldSnapshot", "held_snapshot"]

_COUNTS = r"""
SELECT format('%I.%I', n.nspname, c.relname) || '|' ||
       (xpath('/row/c/text()', query_to_xml(
          format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_%'
ORDER BY 1;
\echo __counts_done__
"""
_SNAPSHOT_ID_CHARS = frozenset("0123456789ABCDEF-")
_LINE_LIMIT = 64 * 1024


@dataclass
class HeldSnapshot:
    snapshot_id: str
    _proc: subprocess.Popen[bytes]
    counts: dict[str, int] = field(default_factory=dict)

    def _line(self) -> str:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline(_LINE_LIMIT)
        if not line:
            raise BackupFailed("psql ended before the snapshot's row counts were read")
        return line.decode("utf-8", "surrogateescape").rstrip("\n")

    def count_rows(self) -> dict[str, int]:
        """Count every user table in the exported snapshot (call while the dump runs or after)."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(_COUNTS.encode())
        self._proc.stdin.flush()
        while (line := self._line()) != "__counts_done__":
            name, _, count = line.rpartition("|")
            if not name or not count.isdigit():
                raise BackupFailed(f"unexpected row count line from psql: {line[:100]!a}")
            self.counts[name] = int(count)
        return self.counts


@contextlib.contextmanager
def held_snapshot(psql: Tool, env: Mapping[str, str], database: str) -> Iterator[HeldSnapshot]:
    """A read-only transaction on ``database`` with its snapshot exported, held until the block ends."""
    argv = psql.argv("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "--no-password", f"--dbname={database}")
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env)
        )
    except OSError as exc:
        raise BackupFailed(f"cannot start psql: {exc.strerror}") from exc
    assert proc.stdin is not None
    try:
        proc.stdin.write(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_export_snapshot();\n")
        proc.stdin.flush()
        held = HeldSnapshot("", proc)
        try:
            snapshot_id = held._line()
        except BackupFailed:
            proc.wait(timeout=60)
            tail = (proc.stderr.read() if proc.stderr else b"").decode("utf-8", "replace").strip()
            raise BackupFailed(
                f"pg_dump of database {database!r} failed (its snapshot could not be exported): "
                + " / ".join(tail.splitlines()[-3:])
            ) from None
        if not snapshot_id or not set(snapshot_id) <= _SNAPSHOT_ID_CHARS or len(snapshot_id) > 64:
            raise BackupFailed(f"psql printed an unexpected snapshot id {snapshot_id[:80]!a}")
        held.snapshot_id = snapshot_id
        yield held
        proc.stdin.write(b"COMMIT;\n")
        proc.stdin.close()
        code = proc.wait(timeout=600)
        if code != 0:
            raise BackupFailed(f"psql holding the snapshot of {database!r} failed (exit {code})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
