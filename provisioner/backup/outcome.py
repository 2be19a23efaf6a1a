"""What a backend returns to the CLI (the issue's JSON shapes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from provisioner.backup.store import format_utc, list_entry_json

__all__ = ["ListedBackup", "RunOutcome", "VerifyOutcome"]


@dataclass(frozen=True)
class ListedBackup:
    id: str
    created_at: datetime
    expires_at: datetime
    sha256: str | None
    size_bytes: int | None
    last_drill: dict[str, object] | None = None
    last_good_drill: dict[str, object] | None = None

    def to_json(self) -> dict[str, object]:
        data = list_entry_json(self.id, self.created_at, self.expires_at, self.sha256, self.size_bytes)
        if self.last_drill is not None:  # only backends that record drills have these
            data["lastDrill"] = self.last_drill
            data["lastSuccessfulDrill"] = self.last_good_drill
        return data


@dataclass(frozen=True)
class RunOutcome:
    registry: str
    backend: str
    backup: ListedBackup
    pruned: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "registry": self.registry,
            "id": self.backup.id,
            "backend": self.backend,
            "createdAt": format_utc(self.backup.created_at),
            "expiresAt": format_utc(self.backup.expires_at),
            "sha256": self.backup.sha256,
            "sizeBytes": self.backup.size_bytes,
            "pruned": list(self.pruned),
        }


@dataclass(frozen=True)
class VerifyOutcome:
    checked: tuple[tuple[str, bool], ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return bool(self.checked) and all(ok for _, ok in self.checked)
