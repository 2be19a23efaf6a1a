"""The archive store: ``<store>/<registry>/<id>.tar.zst`` plus ``<id>.json`` metadata.

Public API (used by the `status` command too):

* :class:`BackupRecord` -- one backup as described by its metadata file.
* :func:`list_backups` -- a registry's backups, newest first (only archive+metadata pairs whose
  metadata is valid and names this registry and id).
* :func:`verify_backup` -- re-hash the archive and compare it with the metadata (size and SHA-256).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from provisioner._fs import TEMP_PREFIX
from provisioner.backup.ids import ID_PATTERN, is_backup_id, new_backup_id

__all__ = [
    "ARCHIVE_SUFFIX",
    "METADATA_SUFFIX",
    "PENDING_PREFIX",
    "BackupRecord",
    "RegistryScan",
    "format_utc",
    "hash_file",
    "list_backups",
    "new_backup_id",
    "parse_utc",
    "record_drill",
    "scan_registry",
    "verify_backup",
]

ARCHIVE_SUFFIX = ".tar.zst"
METADATA_SUFFIX = ".json"
LOCK_NAME = ".lock"
TOMBSTONE_PREFIX = TEMP_PREFIX + "delete-"
# Marks a backup being made: if a run dies between renaming the archive into place and writing the
# metadata, the marker tells the next run that the archive without metadata is ours to remove.
PENDING_PREFIX = TEMP_PREFIX + "pending-"
_ID_TEXT = ID_PATTERN
# The exact names of what a run or a prune leaves behind when interrupted; a name with our temp
# prefix and any other shape was not made by backup-registry and is never deleted.
_TOMBSTONE_NAME = re.compile(re.escape(TOMBSTONE_PREFIX) + _ID_TEXT + re.escape(METADATA_SUFFIX), re.ASCII)
_PENDING_NAME = re.compile(re.escape(PENDING_PREFIX) + _ID_TEXT, re.ASCII)
# create_exclusive(folder, "<id>.tar.zst" or "<id>.json"): the stem, a dot, token_hex(6).
_TEMP_NAME = re.compile(
    re.escape(TEMP_PREFIX)
    + _ID_TEXT
    + "("
    + re.escape(ARCHIVE_SUFFIX)
    + "|"
    + re.escape(METADATA_SUFFIX)
    + r")\.[0-9a-f]{12}",
    re.ASCII,
)
_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_UTC_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", re.ASCII)
_READ_CHUNK = 4 * 1024 * 1024


def format_utc(moment: datetime) -> str:
    """``2026-11-22T19:30:00Z`` (seconds precision)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime:
    """Parse the metadata's UTC timestamps (exactly the format :func:`format_utc` writes)."""
    if not _UTC_TEXT.fullmatch(text):
        raise ValueError(f"not a UTC timestamp like 2026-11-22T19:30:00Z: {text!r}")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def list_entry_json(
    backup_id: str, created_at: datetime, expires_at: datetime, sha256: str | None, size_bytes: int | None
) -> dict[str, object]:
    """One backup as ``list --format json`` shows it (every backend)."""
    return {
        "id": backup_id,
        "createdAt": format_utc(created_at),
        "expiresAt": format_utc(expires_at),
        "sha256": sha256,
        "sizeBytes": size_bytes,
    }


@dataclass(frozen=True)
class BackupRecord:
    registry: str
    id: str
    created_at: datetime
    expires_at: datetime
    sha256: str
    size_bytes: int
    sources: tuple[dict[str, str], ...]
    tool_version: str
    archive_path: Path
    metadata_path: Path
    last_drill: dict[str, object] | None = None  # {"at", "result", "seconds"} of the last drill
    last_good_drill: dict[str, object] | None = None  # the last drill whose result was "ok"

    def to_list_json(self) -> dict[str, object]:
        return list_entry_json(self.id, self.created_at, self.expires_at, self.sha256, self.size_bytes)

    def to_metadata(self) -> dict[str, object]:
        return {
            "registry": self.registry,
            "id": self.id,
            "createdAt": format_utc(self.created_at),
            "expiresAt": format_utc(self.expires_at),
            "sha256": self.sha256,
            "sizeBytes": self.size_bytes,
            "sources": [dict(s) for s in self.sources],
            "toolVersion": self.tool_version,
            "archive": self.archive_path.name,
            "format": "tar+zstd",
        }


def _record_from_metadata(data: object, folder: Path, registry: str, backup_id: str) -> BackupRecord:
    """Strictly check a metadata document (exact types; ids, names and registry must match)."""
    if not isinstance(data, dict):
        raise ValueError("metadata is not a JSON object")

    def text(key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str):
            raise ValueError(f"{key} is not a string")
        return value

    if text("registry") != registry or text("id") != backup_id:
        raise ValueError("registry or id does not match the file")
    if text("archive") != backup_id + ARCHIVE_SUFFIX:
        raise ValueError("archive name does not match the id")
    sha = text("sha256")
    if not _SHA256.fullmatch(sha):
        raise ValueError("sha256 is not 64 lowercase hex digits")
    size = data.get("sizeBytes")
    if type(size) is not int or size < 0:
        raise ValueError("sizeBytes is not a non-negative integer")
    created, expires = parse_utc(text("createdAt")), parse_utc(text("expiresAt"))
    if expires - created < timedelta(hours=1):
        raise ValueError("expiresAt is not after createdAt")
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, list) or not all(
        isinstance(s, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in s.items())
        for s in raw_sources
    ):
        raise ValueError("sources is not a list of string maps")
    drills = {key: _drill_entry(data.get(key), key) for key in ("lastDrill", "lastSuccessfulDrill")}
    return BackupRecord(
        registry=registry,
        id=backup_id,
        created_at=created,
        expires_at=expires,
        sha256=sha,
        size_bytes=size,
        sources=tuple(dict(s) for s in raw_sources),
        tool_version=text("toolVersion"),
        archive_path=folder / (backup_id + ARCHIVE_SUFFIX),
        metadata_path=folder / (backup_id + METADATA_SUFFIX),
        last_drill=drills["lastDrill"],
        last_good_drill=drills["lastSuccessfulDrill"],
    )


def _drill_entry(value: object, key: str) -> dict[str, object] | None:
    """A drill record as `drill` writes it: ``{"at": UTC text, "result": "ok"|"failed", "seconds": n}``."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"at", "result", "seconds"}:
        raise ValueError(f"{key} is not an object with at, result and seconds")
    at, result, seconds = value["at"], value["result"], value["seconds"]
    if not isinstance(at, str):
        raise ValueError(f"{key}.at is not a string")
    parse_utc(at)
    if result not in ("ok", "failed"):
        raise ValueError(f"{key}.result is not ok or failed")
    if type(seconds) not in (int, float) or seconds < 0:
        raise ValueError(f"{key}.seconds is not a non-negative number")
    return {"at": at, "result": result, "seconds": seconds}


def record_drill(record: BackupRecord, entry: dict[str, object]) -> None:
    """Write ``entry`` as the backup's ``lastDrill`` (and ``lastSuccessfulDrill`` when ok), atomically."""
    from provisioner._fs import atomic_write_json

    folder = record.metadata_path.parent
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        data = json.loads(_read_small_regular(fd, record.metadata_path.name))
    finally:
        os.close(fd)
    _record_from_metadata(data, folder, record.registry, record.id)  # still ours, still valid
    _drill_entry(entry, "lastDrill")
    data["lastDrill"] = entry
    if entry["result"] == "ok":
        data["lastSuccessfulDrill"] = entry
    atomic_write_json(folder, record.metadata_path.name, data)


def _read_small_regular(folder_fd: int, name: str, limit: int = 1 << 20) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError("metadata file too large")
    return data


@dataclass
class RegistryScan:
    """What a registry folder holds: valid backups (newest first) and everything else by name."""

    records: list[BackupRecord] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)  # our temp names, regular files
    # Interrupted deletions to finish: each tombstone (the renamed metadata) read back as a record,
    # only when it is valid metadata of this registry and id and that id has no live backup.
    tombstones: list[BackupRecord] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # markers of backups being made (or interrupted)
    unaccounted: dict[str, str] = field(default_factory=dict)  # name -> why it is not ours


def scan_registry(folder: Path, registry: str) -> RegistryScan:
    """Classify every entry of ``folder`` (never following symlinks). A missing folder is empty."""
    scan = RegistryScan()
    try:
        folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return scan
    try:
        entries: dict[str, os.stat_result] = {}
        for name in os.listdir(folder_fd):
            try:
                entries[name] = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
        claimed: set[str] = {LOCK_NAME}
        tombstones: list[str] = []
        for name, st in sorted(entries.items()):
            regular = stat.S_ISREG(st.st_mode)
            if _TOMBSTONE_NAME.fullmatch(name) and regular:
                tombstones.append(name)  # judged below, once the live backups are known
            elif _PENDING_NAME.fullmatch(name) and regular:
                scan.pending.append(name)
                claimed.add(name)
            elif _TEMP_NAME.fullmatch(name) and regular:
                scan.temp_files.append(name)
                claimed.add(name)
            elif name.endswith(METADATA_SUFFIX) and is_backup_id(name[: -len(METADATA_SUFFIX)]):
                backup_id = name[: -len(METADATA_SUFFIX)]
                archive = backup_id + ARCHIVE_SUFFIX
                if not regular:
                    continue  # reported below as unaccounted
                archive_st = entries.get(archive)
                if archive_st is None or not stat.S_ISREG(archive_st.st_mode):
                    continue
                try:
                    data = json.loads(_read_small_regular(folder_fd, name))
                    record = _record_from_metadata(data, folder, registry, backup_id)
                except (OSError, ValueError) as exc:
                    scan.unaccounted[name] = f"unreadable metadata: {exc}"
                    continue
                scan.records.append(record)
                claimed.update({name, archive})
        live = {r.id for r in scan.records}
        for name in tombstones:
            backup_id = name[len(TOMBSTONE_PREFIX) : -len(METADATA_SUFFIX)]
            if backup_id in live:
                scan.unaccounted[name] = "a tombstone of a backup that still has its metadata"
                continue
            try:
                data = json.loads(_read_small_regular(folder_fd, name))
                scan.tombstones.append(_record_from_metadata(data, folder, registry, backup_id))
            except (OSError, ValueError) as exc:
                scan.unaccounted[name] = f"a tombstone that is not this registry's metadata: {exc}"
                continue
            claimed.add(name)
        for name, st in entries.items():
            if name in claimed or name in scan.unaccounted:
                continue
            if stat.S_ISLNK(st.st_mode):
                scan.unaccounted[name] = "symbolic link"
            elif not stat.S_ISREG(st.st_mode):
                scan.unaccounted[name] = "not a regular file"
            elif name.startswith(TEMP_PREFIX):
                scan.unaccounted[name] = "named like a backup-registry temp file, but not one it makes"
            elif name.endswith(METADATA_SUFFIX):
                scan.unaccounted[name] = "metadata without a matching archive (a regular file)"
            else:
                scan.unaccounted[name] = "not made by backup-registry (no matching metadata)"
    finally:
        os.close(folder_fd)
    scan.records.sort(key=lambda r: r.id, reverse=True)
    return scan


def list_backups(store: Path, registry: str) -> list[BackupRecord]:
    """The registry's backups in ``store``, newest first. ``registry`` must be a DNS-1123 label."""
    from provisioner.backup.inputs import check_registry

    check_registry(registry)
    return scan_registry(Path(os.path.realpath(store)) / registry, registry).records


def hash_file(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a regular file, read without following a final symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        return hash_fd(fd)
    finally:
        os.close(fd)


def hash_fd(fd: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(_READ_CHUNK)
    view = memoryview(buffer)
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        n = os.readv(fd, [buffer])
        if n == 0:
            break
        digest.update(view[:n])
        size += n
    return digest.hexdigest(), size


def verify_backup(record: BackupRecord) -> bool:
    """True when the archive exists as a regular file with the recorded size and SHA-256."""
    try:
        if record.archive_path.lstat().st_size != record.size_bytes:
            return False
        digest, size = hash_file(record.archive_path)
    except OSError:
        return False
    return size == record.size_bytes and digest == record.sha256
