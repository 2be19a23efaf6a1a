"""Real archive backups made by backup-registry at a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from provisioner.backup.cli import main as backup_main


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_backup(store: Path, source: Path, at: datetime, hours: int = 168, registry: str = "demo") -> str:
    """A real archive backup taken at a fixed clock; returns its id."""
    source.mkdir(parents=True, exist_ok=True)
    (source / "data.txt").write_text(f"registry data at {iso(at)}\n")
    argv = ["run", "--registry", registry, "--expires-in-hours", str(hours), "--source", str(source)]
    assert backup_main([*argv, "--store", str(store), "--now", iso(at), "--no-prune"]) == 0
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
