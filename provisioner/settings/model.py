"""The validated backup settings of one registry (``global.registryBackup`` + ``global.timeZone``)."""

from __future__ import annotations

from dataclasses import dataclass

HOURS_PER_DAY = 24


@dataclass(frozen=True)
class BackupSettings:
    """Settings after validation; nothing downstream sees raw values.yaml data."""

    enabled: bool
    schedule: str  # as written in values.yaml, blanks around it stripped
    expires_in_days: int
    time_zone: str

    @property
    def expires_in_hours(self) -> int:
        """The backup system counts retention in hours."""
        return HOURS_PER_DAY * self.expires_in_days

    def to_json(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "schedule": self.schedule,
            "expiresInDays": self.expires_in_days,
            "expiresInHours": self.expires_in_hours,
            "timeZone": self.time_zone,
        }
