"""The console's settings check: JSON values -> the same field errors as ``provisioner validate``.

Pure. The request's values are written as a values.yaml document (a JSON value is a YAML flow
value) and validated by :func:`provisioner.settings.values.validate_values_text`, so a JSON ``"7"``,
``7.0`` or ``true`` for expiresInDays fails exactly like it fails in values.yaml, with the same
message. There is no second set of rules to drift apart.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from provisioner.settings.cron import describe, next_runs
from provisioner.settings.model import HOURS_PER_DAY, BackupSettings
from provisioner.settings.policy import Policy
from provisioner.settings.values import ENABLED, EXPIRES, SCHEDULE, TIME_ZONE, validate_values_text
from provisioner.status import format_when

# API field -> values.yaml field
FIELDS = {"enabled": ENABLED, "schedule": SCHEDULE, "expiresInDays": EXPIRES, "timeZone": TIME_ZONE}
_BY_PATH = {path: name for name, path in FIELDS.items()}
_FORM_INTEGER = re.compile(r"[0-9]{1,12}")
RUNS_SHOWN = 3


@dataclass(frozen=True)
class ApiError:
    field: str  # the API field (enabled, schedule, expiresInDays, timeZone) or "request"
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True)
class Checked:
    settings: BackupSettings | None  # set iff there are no errors
    errors: tuple[ApiError, ...]
    warnings: tuple[str, ...]  # daylight saving
    next_runs: tuple[datetime, ...]  # whenever the schedule and zone are valid (even if switched off)
    schedule_text: str | None  # the schedule in words
    time_zone: str | None  # when valid
    expires_in_hours: int | None  # whenever expiresInDays itself is valid

    def runs_text(self) -> list[str]:
        """The runs as the page shows them: local wall-clock time and the zone's abbreviation."""
        if self.time_zone is None:
            return []
        zone = ZoneInfo(self.time_zone)
        return [format_when(run, zone) for run in self.next_runs]

    @functools.cached_property
    def json_bytes(self) -> bytes:
        """The preview answer, encoded once per cached check."""
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def to_json(self) -> dict[str, object]:
        return {
            "valid": self.settings is not None,
            "errors": [e.to_json() for e in self.errors],
            "nextRuns": [run.isoformat() for run in self.next_runs],
            "nextRunsText": self.runs_text(),
            "scheduleText": self.schedule_text,
            "warnings": list(self.warnings),
            "timeZone": self.time_zone,
            "expiresInHours": self.expires_in_hours,
        }


def _yaml_value(value: object) -> str:
    """A JSON value as YAML 1.1 reads it with the same type (floats keep a dot, as YAML 1.1 needs)."""
    if isinstance(value, float) and not isinstance(value, bool):
        if not math.isfinite(value):
            return json.dumps(str(value))  # cannot come from strict JSON; a string is rejected anyway
        text = repr(value)
        if "." not in text and "e" in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    return json.dumps(value, ensure_ascii=True, allow_nan=False)


def values_document(data: Mapping[str, object]) -> str:
    """The values.yaml that says what the request says (keys absent from ``data`` are left out)."""
    lines = ["global:"]
    if "timeZone" in data:
        lines.append(f"  timeZone: {_yaml_value(data['timeZone'])}")
    lines.append("  registryBackup:")
    lines.extend(
        f"    {key}: {_yaml_value(data[key])}"
        for key in ("enabled", "schedule", "expiresInDays")
        if key in data
    )
    return "\n".join(lines) + "\n"


def check_settings(data: Mapping[str, object], policy: Policy, now: datetime) -> Checked:
    """Validate enabled, schedule, expiresInDays and timeZone like values.yaml; runs after ``now``.

    Runs are counted from the start of ``now``'s minute (cron's resolution), so the answer for the
    same values is the same all minute long and is cached: a page polling the preview as the admin
    types, or many admins, cost one validation per distinct value per minute.
    """
    days = data.get("expiresInDays")
    whole = days if isinstance(days, int) and not isinstance(days, bool) else None
    return _check_cached(values_document(data), policy, now.replace(second=0, microsecond=0), whole)


@functools.lru_cache(maxsize=4096)
def _check_cached(document: str, policy: Policy, minute: datetime, days: int | None) -> Checked:
    return _check(document, policy, minute, days)


def _check(document: str, policy: Policy, now: datetime, days: int | None) -> Checked:
    result = validate_values_text(document, policy, now=now)
    errors = tuple(ApiError(_BY_PATH.get(e.field, "request"), e.message) for e in result.errors)
    runs: tuple[datetime, ...] = ()
    words = None
    if result.schedule is not None:
        words = describe(result.schedule)
        if result.time_zone is not None:
            runs = tuple(next_runs(result.schedule, ZoneInfo(result.time_zone), now, RUNS_SHOWN))
    hours = None
    if days is not None and not any(e.field == "expiresInDays" for e in errors):
        hours = HOURS_PER_DAY * days
    return Checked(result.settings, errors, result.warnings, runs, words, result.time_zone, hours)


def form_values(form: Mapping[str, str]) -> dict[str, object]:
    """The page's form (no JavaScript) as request data: a checkbox, a text field, a number field.

    A whole number typed in the retention field is an integer; anything else stays text and fails
    as text does in values.yaml.
    """
    days = form.get("expiresInDays", "").strip()
    return {
        "enabled": form.get("enabled") == "true",
        "schedule": form.get("schedule", ""),
        "expiresInDays": int(days) if _FORM_INTEGER.fullmatch(days) else days,
    }
