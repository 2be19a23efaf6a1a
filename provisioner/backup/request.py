"""A backup-registry request: every input, validated and typed (built by the CLI, carried out by commands)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Request:
    """Every input, validated and typed."""

    command: str
    registry: str
    backend: str
    store: Path | None = None
    restic_repo: str | None = None
    namespace: str | None = None
    lock_timeout: float = 300.0
    hours: int | None = None
    dirs: tuple[Path, ...] = ()
    databases: tuple[str, ...] = ()
    jobs: int = 1  # pg_dump processes at once
    prune: bool = True
    verify: bool = True
    now: datetime | None = None
    backup_id: str | None = None
    output: str = "text"
    metrics_file: Path | None = None  # node_exporter textfile (run, prune, verify)
    # restore and drill
    latest: bool = False
    before: datetime | None = None
    to: Path | None = None
    db_map: tuple[tuple[str, str], ...] = ()
    dry_run: bool = False
    force: bool = False
    to_namespace: str | None = None
