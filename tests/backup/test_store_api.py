"""The public API the `status` command uses: list_backups / verify_backup / BackupRecord."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import provisioner.backup as backup_pkg
from provisioner.backup import BackupRecord, list_backups, verify_backup
from provisioner.backup.cli import main
from provisioner.backup.errors import InvalidInput


def test_public_surface_is_pinned() -> None:
    assert backup_pkg.__all__ == ["BackupRecord", "list_backups", "verify_backup"]


def test_list_and_verify(src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert list_backups(store, "demo") == []  # no store yet: empty, nothing created
    assert not store.exists()
    for now in ("2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"):
        assert (
            main(
                [
                    "run",
                    "--registry",
                    "demo",
                    "--expires-in-hours",
                    "168",
                    "--source",
                    str(src),
                    "--store",
                    str(store),
                    "--now",
                    now,
                ]
            )
            == 0
        )
    records = list_backups(store, "demo")
    assert [r.id for r in records] == ["20261121T100000Z", "20261120T100000Z"]
    newest = records[0]
    assert isinstance(newest, BackupRecord)
    assert newest.registry == "demo"
    assert newest.created_at == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert newest.expires_at == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert newest.archive_path == store.resolve() / "demo" / "20261121T100000Z.tar.zst"
    assert newest.size_bytes == newest.archive_path.stat().st_size
    assert newest.to_list_json()["createdAt"] == "2026-11-21T10:00:00Z"
    assert all(verify_backup(r) for r in records)
    newest.archive_path.write_bytes(b"truncated")
    assert not verify_backup(newest)
    newest.archive_path.unlink()
    assert not verify_backup(newest)


def test_registry_name_is_validated(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        list_backups(tmp_path, "../etc")
