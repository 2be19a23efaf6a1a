"""The `backup-registry` library: hardened backups of one registry (archive, restic or velero).

Public API (used by the `status` command as well as the CLI):

* :class:`BackupRecord` -- one archive backup as its metadata describes it
  (``registry``, ``id``, ``created_at``, ``expires_at`` (aware UTC), ``sha256``, ``size_bytes``,
  ``sources``, ``tool_version``, ``archive_path``, ``metadata_path``; ``to_list_json()``).
* :func:`list_backups` ``(store: Path, registry: str) -> list[BackupRecord]`` -- newest first.
* :func:`verify_backup` ``(record: BackupRecord) -> bool`` -- re-hash the archive from disk.

Importing this package is cheap (stdlib only); the CLI lives in :mod:`provisioner.backup.cli`.
"""

from __future__ import annotations

from provisioner.backup.store import BackupRecord, list_backups, verify_backup

__all__ = ["BackupRecord", "list_backups", "verify_backup"]
