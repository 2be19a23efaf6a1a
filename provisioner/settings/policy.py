"""The platform policy for backup settings: defaults and bounds (bounds may only be tightened).

A policy file (YAML) looks like ``examples/policy.yaml``::

    defaults:
      enabled: false
      schedule: "30 19 * * *"
      expiresInDays: 7
      timeZone: Europe/Kiev
    minimums:
      expiresInDays: 7      # never below 7
      intervalMinutes: 60   # never below 60, at most 1440
    jobs:                   # how the rendered backup job runs (ids of Jenkins credentials, never secrets)
      timeoutMinutes: 240   # a hung backup is aborted after this (5..1440)
      notifyCredentialId: backup-webhook   # secret text: webhook URL, as BACKUP_NOTIFY_URL
      pingCredentialId: backup-healthcheck # secret text: dead man's switch URL, as BACKUP_PING_URL
    drills:                 # optional (off when absent): a restore-drill job per registry
      schedule: "0 4 * * 0" # unix cron in the registry's time zone, checked like backup schedules

Every key is optional; unknown keys, wrong types and values below the hard floors are errors.
This module is the policy itself (pure data, no YAML, no pydantic); reading a policy file is
:mod:`provisioner.settings.policy_file`, imported only when a file is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from provisioner.errors import UsageError
from provisioner.settings.timezones import DEFAULT_TIME_ZONE

HARD_MIN_EXPIRES_IN_DAYS = 7
HARD_MAX_EXPIRES_IN_DAYS = 3650
HARD_MIN_INTERVAL_MINUTES = 60
MAX_INTERVAL_MINUTES = 1440
DEFAULT_SCHEDULE = "30 19 * * *"
DEFAULT_JOB_TIMEOUT_MINUTES = 240
MIN_JOB_TIMEOUT_MINUTES = 5
MAX_JOB_TIMEOUT_MINUTES = 1440
# A Jenkins credential id as the job text may carry it inside a single-quoted Groovy string: no quote,
# backslash, '$' or blank can ever reach the script (the id names a secret; it is not one).
CREDENTIAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def is_credential_id(text: str) -> bool:
    return CREDENTIAL_ID.fullmatch(text) is not None


@dataclass(frozen=True)
class JobOptions:
    """How the rendered backup job runs: its timeout and which Jenkins credentials hold the URLs."""

    timeout_minutes: int = DEFAULT_JOB_TIMEOUT_MINUTES
    notify_credential_id: str | None = None
    ping_credential_id: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.timeout_minutes, bool) or not (
            MIN_JOB_TIMEOUT_MINUTES <= self.timeout_minutes <= MAX_JOB_TIMEOUT_MINUTES
        ):
            raise ValueError(
                f"timeout_minutes must lie between {MIN_JOB_TIMEOUT_MINUTES} and {MAX_JOB_TIMEOUT_MINUTES}"
            )
        for name in ("notify_credential_id", "ping_credential_id"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and is_credential_id(value)):
                raise ValueError(f"{name} must match {CREDENTIAL_ID.pattern}")

    def to_json(self) -> dict[str, object]:
        return {
            "timeoutMinutes": self.timeout_minutes,
            "notifyCredentialId": self.notify_credential_id,
            "pingCredentialId": self.ping_credential_id,
        }


DEFAULT_JOB_OPTIONS = JobOptions()


@dataclass(frozen=True)
class DrillOptions:
    """Scheduled restore drills: a second job per registry, ``Drill-registry-backup-<registry>``, that runs
    ``backup-registry drill --latest`` on ``schedule`` (unix cron, in the registry's time zone). The
    schedule is checked like a backup schedule when the policy file is read (settings/policy_file.py)."""

    schedule: str

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, str) or not self.schedule.strip(" \t"):
            raise ValueError("the drill schedule must be a non-empty string")


class InvalidPolicy(UsageError):
    """The policy file breaks a rule (exit 2: it is the operator's input, not the registry's)."""


@dataclass(frozen=True)
class Policy:
    default_enabled: bool = False
    default_schedule: str = DEFAULT_SCHEDULE
    default_expires_in_days: int = HARD_MIN_EXPIRES_IN_DAYS
    default_time_zone: str = DEFAULT_TIME_ZONE
    min_expires_in_days: int = HARD_MIN_EXPIRES_IN_DAYS
    min_interval_minutes: int = HARD_MIN_INTERVAL_MINUTES
    max_expires_in_days: int = HARD_MAX_EXPIRES_IN_DAYS
    jobs: JobOptions = field(default=DEFAULT_JOB_OPTIONS)
    drills: DrillOptions | None = None  # None: no drill jobs (the default); existing ones are disabled

    def __post_init__(self) -> None:
        # The hard floors hold for every Policy, however it was built, not only for policy files.
        if self.min_expires_in_days < HARD_MIN_EXPIRES_IN_DAYS:
            raise ValueError(f"min_expires_in_days must be at least {HARD_MIN_EXPIRES_IN_DAYS}")
        if self.min_interval_minutes < HARD_MIN_INTERVAL_MINUTES:
            raise ValueError(f"min_interval_minutes must be at least {HARD_MIN_INTERVAL_MINUTES}")
        if not self.min_expires_in_days <= self.max_expires_in_days <= HARD_MAX_EXPIRES_IN_DAYS:
            raise ValueError(
                f"max_expires_in_days must lie between the minimum and {HARD_MAX_EXPIRES_IN_DAYS}"
            )


DEFAULT_POLICY = Policy()
