"""Retention: which backups a prune may delete (pure) and deleting them safely from a registry folder.

Rules (issue 4): delete only backups of this registry whose expiresAt has passed; never the newest
verified backup (the newest whose checksum matches now); never a file this tool did not create
(only ``<id>.tar.zst``/``<id>.json`` pairs with valid metadata, and our own temp names); never
through a symlink; never outside the registry's folder. Everything else is reported, not deleted.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from provisioner.backup.ids import is_backup_id
from provisioner.backup.logs import LOG
from provisioner.backup.store import (
    ARCHIVE_SUFFIX,
    METADATA_SUFFIX,
    PENDING_PREFIX,
    TOMBSTONE_PREFIX,
    BackupRecord,
    scan_registry,
    verify_backup,
)

__all__ = ["PrunePlan", "PruneResult", "cleanup_leftovers", "plan_prune", "prune_registry"]

T = TypeVar("T")


@dataclass(frozen=True)
class PrunePlan:
    delete: tuple[str, ...]
    keep_newest_verified: str | None


def plan_prune(
    items: Sequence[T],
    *,
    key: Callable[[T], str],
    expires: Callable[[T], datetime],
    verified: Callable[[T], bool],
    now: datetime,
) -> PrunePlan:
    """Pure: ids of expired items, sparing the newest item for which ``verified`` holds.

    ``verified`` is called lazily, newest first, until one passes (a hash per call for archives).
    """
    ordered = sorted(items, key=key, reverse=True)
    newest_ok: str | None = None
    for item in ordered:
        if verified(item):
            newest_ok = key(item)
            break
    delete = tuple(key(i) for i in ordered if expires(i) <= now and key(i) != newest_ok)
    return PrunePlan(delete=delete, keep_newest_verified=newest_ok)


@dataclass
class PruneResult:
    pruned: list[str] = field(default_factory=list)
    kept_newest_verified: str | None = None
    unaccounted: dict[str, str] = field(default_factory=dict)


def _unlink_regular(folder_fd: int, name: str) -> None:
    """Unlink ``name`` in the folder only if it is a regular file (never a symlink or directory)."""
    try:
        st = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"refusing to delete {name!r}: not a regular file")
    os.unlink(name, dir_fd=folder_fd)


def _open_folder(folder: Path) -> int:
    return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def cleanup_leftovers(folder: Path, registry: str) -> list[str]:
    """Under the lock: remove our temp files and finish deletions a crashed prune left (tombstones)."""
    scan = scan_registry(folder, registry)
    if not scan.temp_files and not scan.tombstones and not scan.pending:
        return []
    removed: list[str] = []
    fd = _open_folder(folder)
    try:
        for dying in scan.tombstones:
            tomb = TOMBSTONE_PREFIX + dying.id + METADATA_SUFFIX
            archive = dying.id + ARCHIVE_SUFFIX
            if os.path.lexists(dying.archive_path):
                # Only the archive the tombstone describes (size and SHA-256, read without following
                # a symlink) is ours to delete; anything else under that name is left and reported.
                if not verify_backup(dying):
                    LOG.warning(
                        "not finishing a deletion: the archive is not the one its tombstone describes",
                        extra={"registry": registry, "file": archive, "tombstone": tomb},
                    )
                    continue
                _unlink_regular(fd, archive)
                removed.append(archive)
            _unlink_regular(fd, tomb)
            removed.append(tomb)
        for marker in scan.pending:
            backup_id = marker[len(PENDING_PREFIX) :]
            complete = any(r.id == backup_id for r in scan.records)
            if not complete and is_backup_id(backup_id):
                _unlink_regular(fd, backup_id + ARCHIVE_SUFFIX)
                removed.append(backup_id + ARCHIVE_SUFFIX)
            _unlink_regular(fd, marker)
            removed.append(marker)
        for name in scan.temp_files:
            _unlink_regular(fd, name)
            removed.append(name)
        os.fsync(fd)
    finally:
        os.close(fd)
    if removed:
        LOG.info("removed leftovers of an interrupted run", extra={"registry": registry, "files": removed})
    return removed


def _delete_backup(folder_fd: int, record: BackupRecord) -> None:
    # Rename the metadata to a tombstone first: the backup vanishes from listings atomically, and
    # a crash part-way leaves a name the next run knows how to finish.
    tomb = TOMBSTONE_PREFIX + record.id + METADATA_SUFFIX
    meta = record.id + METADATA_SUFFIX
    st = os.stat(meta, dir_fd=folder_fd, follow_symlinks=False)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"refusing to delete {meta!r}: not a regular file")
    os.rename(meta, tomb, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    os.fsync(folder_fd)
    _unlink_regular(folder_fd, record.id + ARCHIVE_SUFFIX)
    _unlink_regular(folder_fd, tomb)
    os.fsync(folder_fd)


def prune_registry(folder: Path, registry: str, now: datetime) -> PruneResult:
    """Apply retention to one registry folder (the caller holds the registry lock)."""
    scan = scan_registry(folder, registry)
    result = PruneResult(unaccounted=dict(scan.unaccounted))
    by_id = {r.id: r for r in scan.records}
    plan = plan_prune(
        scan.records,
        key=lambda r: r.id,
        expires=lambda r: r.expires_at,
        verified=verify_backup,
        now=now,
    )
    result.kept_newest_verified = plan.keep_newest_verified
    if not plan.delete:
        pass
    else:
        fd = _open_folder(folder)
        try:
            for backup_id in plan.delete:
                _delete_backup(fd, by_id[backup_id])
                result.pruned.append(backup_id)
                LOG.info("pruned expired backup", extra={"registry": registry, "id": backup_id})
        finally:
            os.close(fd)
    for name, why in sorted(result.unaccounted.items()):
        LOG.warning("not deleting a file this tool cannot account for", extra={"file": name, "reason": why})
    return result
