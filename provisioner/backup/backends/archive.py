"""The `archive` backend: compressed tar archives with JSON metadata in a local store folder."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from provisioner import __version__
from provisioner._fs import atomic_write_json, fsync_dir, remove_quietly
from provisioner.backup.archive import RawSink, write_archive
from provisioner.backup.errors import BackupFailed, InvalidInput
from provisioner.backup.ids import new_backup_id
from provisioner.backup.inputs import registry_dir
from provisioner.backup.locking import registry_lock
from provisioner.backup.logs import LOG
from provisioner.backup.outcome import ListedBackup, RunOutcome, VerifyOutcome
from provisioner.backup.pgdump import PgDumpSource
from provisioner.backup.restore import Candidate
from provisioner.backup.retention import PruneResult, cleanup_leftovers, prune_registry
from provisioner.backup.store import (
    ARCHIVE_SUFFIX,
    METADATA_SUFFIX,
    PENDING_PREFIX,
    BackupRecord,
    record_drill,
    scan_registry,
    verify_backup,
)
from provisioner.backup.tarsource import archive_source

__all__ = ["ArchiveBackend"]


def _listed(record: BackupRecord) -> ListedBackup:
    return ListedBackup(
        record.id,
        record.created_at,
        record.expires_at,
        record.sha256,
        record.size_bytes,
        record.last_drill,
        record.last_good_drill,
    )


@dataclass(frozen=True)
class ArchiveBackend:
    store: Path  # resolved
    registry: str
    lock_timeout: float = 300.0
    verify_after_write: bool = True
    threads: int = -1
    jobs: int = 1  # pg_dump processes at once
    sink_factory: Callable[[int], RawSink] | None = None  # test seam for write failures

    @property
    def folder(self) -> Path:
        return registry_dir(self.store, self.registry)

    def _make_folder(self) -> Path:
        folder = self.folder
        created = not self.store.exists()
        os.makedirs(folder, mode=0o750, exist_ok=True)
        if created:
            fsync_dir(self.store.parent)
        fsync_dir(self.store)
        if folder.is_symlink() or not folder.is_dir():
            raise InvalidInput("--store", f"{folder} is not a plain directory")
        return folder

    def run(
        self,
        *,
        hours: int,
        dirs: Sequence[Path],
        databases: Sequence[PgDumpSource],
        now: datetime,
        prune: bool,
    ) -> RunOutcome:
        folder = self._make_folder()
        with registry_lock(folder, self.registry, self.lock_timeout):
            cleanup_leftovers(folder, self.registry)
            taken = {
                name.removesuffix(ARCHIVE_SUFFIX).removesuffix(METADATA_SUFFIX) for name in os.listdir(folder)
            }
            backup_id = new_backup_id(now, taken)
            LOG.info(
                "backup started", extra={"registry": self.registry, "id": backup_id, "backend": "archive"}
            )
            kwargs = {} if self.sink_factory is None else {"sink_factory": self.sink_factory}
            marker = folder / (PENDING_PREFIX + backup_id)
            os.close(
                os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            )
            fsync_dir(folder)
            try:
                result = write_archive(
                    folder,
                    backup_id,
                    dirs,
                    databases,
                    verify=self.verify_after_write,
                    threads=self.threads,
                    jobs=self.jobs,
                    **kwargs,  # type: ignore[arg-type]
                )
                created = now.replace(microsecond=0)
                record = BackupRecord(
                    registry=self.registry,
                    id=backup_id,
                    created_at=created,
                    expires_at=created + timedelta(hours=hours),
                    sha256=result.sha256,
                    size_bytes=result.size_bytes,
                    sources=result.sources,
                    tool_version=__version__,
                    archive_path=result.path,
                    metadata_path=folder / (backup_id + METADATA_SUFFIX),
                )
                try:
                    atomic_write_json(folder, record.metadata_path.name, record.to_metadata())
                except BaseException:
                    remove_quietly(result.path)
                    raise
            finally:
                remove_quietly(marker)
            LOG.info(
                "backup written",
                extra={
                    "registry": self.registry,
                    "id": backup_id,
                    "sha256": result.sha256,
                    "sizeBytes": result.size_bytes,
                    "seconds": round(result.seconds, 3),
                    "verified": self.verify_after_write,
                },
            )
            pruned: list[str] = []
            if prune:
                pruned = self._prune_locked(folder, now).pruned
        return RunOutcome(self.registry, "archive", _listed(record), tuple(pruned))

    def list(self) -> list[ListedBackup]:
        return [_listed(r) for r in scan_registry(self.folder, self.registry).records]

    def verify(self, backup_id: str | None) -> VerifyOutcome:
        records = scan_registry(self.folder, self.registry).records
        if backup_id is not None:
            records = [r for r in records if r.id == backup_id]
            if not records:
                raise BackupFailed(f"no backup {backup_id!r} for registry {self.registry!r}")
        checked = []
        for record in records:
            ok = verify_backup(record)
            (LOG.info if ok else LOG.error)(
                "verified backup" if ok else "backup is corrupt or missing",
                extra={"registry": self.registry, "id": record.id, "ok": ok},
            )
            checked.append((record.id, ok))
        return VerifyOutcome(tuple(checked))

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Held by restores and drills: no backup is written or pruned meanwhile (shared lock)."""
        folder = self.folder
        if not folder.is_dir():
            yield
            return
        with registry_lock(folder, self.registry, self.lock_timeout, shared=True):
            yield

    def candidates(self) -> Sequence[Candidate]:
        """The registry's backups as restore candidates, newest first."""
        return [
            Candidate(
                r.id,
                r.created_at,
                functools.partial(archive_source, r.archive_path, r.sha256, r.size_bytes, f"backup {r.id}"),
                r.sources,
            )
            for r in scan_registry(self.folder, self.registry).records
        ]

    def record_drill(self, backup_id: str, entry: dict[str, object]) -> None:
        for record in scan_registry(self.folder, self.registry).records:
            if record.id == backup_id:
                record_drill(record, entry)
                return
        raise BackupFailed(f"backup {backup_id!r} disappeared before its drill could be recorded")

    def prune(self, now: datetime) -> PruneResult:
        folder = self.folder
        if not folder.is_dir():
            return PruneResult()
        with registry_lock(folder, self.registry, self.lock_timeout):
            cleanup_leftovers(folder, self.registry)
            return self._prune_locked(folder, now)

    def _prune_locked(self, folder: Path, now: datetime) -> PruneResult:
        try:
            return prune_registry(folder, self.registry, now)
        except OSError as exc:
            raise BackupFailed(f"prune failed: {exc}") from exc
