"""values.yaml text -> validated :class:`BackupSettings`, with every error naming field, value and line.

Only ``global.timeZone`` and ``global.registryBackup`` are read; the rest of values.yaml is ignored.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from yaml.nodes import MappingNode, Node, ScalarNode

from provisioner.settings.cron import (
    Schedule,
    ScheduleError,
    dst_warnings,
    min_interval_minutes,
    parse_schedule,
)
from provisioner.settings.model import BackupSettings
from provisioner.settings.policy import DEFAULT_POLICY, Policy
from provisioner.settings.strict_yaml import (
    BOOL,
    INT,
    STR,
    FieldError,
    Problems,
    YamlError,
    compose_strict,
    find_key,
    kind_of,
    scalar_text,
    unique_entries,
)
from provisioner.settings.timezones import time_zone_problem

ENABLED = "global.registryBackup.enabled"
SCHEDULE = "global.registryBackup.schedule"
EXPIRES = "global.registryBackup.expiresInDays"
TIME_ZONE = "global.timeZone"
KNOWN_BACKUP_KEYS = ("enabled", "schedule", "expiresInDays")

_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_YAML11_BOOLS = frozenset({"yes", "no", "on", "off", "y", "n"})
_MAX_INT_DIGITS = 12


@dataclass(frozen=True)
class ValidationResult:
    settings: BackupSettings | None  # set iff there are no errors
    errors: tuple[FieldError, ...]
    warnings: tuple[str, ...]
    schedule: Schedule | None  # parsed whenever the schedule itself is valid
    time_zone: str | None  # the zone to preview in, when it is valid

    @property
    def valid(self) -> bool:
        return not self.errors


def _check_enabled(node: Node, out: Problems) -> bool | None:
    if isinstance(node, ScalarNode) and node.tag == BOOL:
        text = str(node.value)
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        out.add(
            ENABLED,
            f"{text!r} is a YAML 1.1 boolean that other YAML readers (Helm, YAML 1.2) read "
            "differently; write true or false",
            node,
        )
        return None
    hint = ""
    if (
        isinstance(node, ScalarNode)
        and node.tag == STR
        and str(node.value).lower() in ({"true", "false"} | _YAML11_BOOLS)
    ):
        hint = " (quoted: remove the quotes and write true or false)"
    out.add(
        ENABLED, f"{scalar_text(node)} is {kind_of(node)}; expected a YAML boolean, true or false{hint}", node
    )
    return None


def _check_expires(node: Node, policy: Policy, out: Problems) -> int | None:
    allowed = f"a YAML integer from {policy.min_expires_in_days} to {policy.max_expires_in_days} (days)"
    if not (isinstance(node, ScalarNode) and node.tag == INT):
        out.add(EXPIRES, f"{scalar_text(node)} is {kind_of(node)}; expected {allowed}", node)
        return None
    text = str(node.value)
    if not _DECIMAL.fullmatch(text):
        out.add(
            EXPIRES,
            f"{text!r} is not a plain decimal integer (YAML 1.1 octal, hex, sexagesimal and "
            f"'_' forms are ambiguous); expected {allowed}",
            node,
        )
        return None
    digits = text.lstrip("+-")
    if len(digits) > _MAX_INT_DIGITS:
        out.add(EXPIRES, f"{text[:20]}... is out of range; expected {allowed}", node)
        return None
    value = int(text)
    if value < policy.min_expires_in_days:
        out.add(
            EXPIRES,
            f"{value} is below the minimum retention of {policy.min_expires_in_days} days "
            f"(a hard floor against losing data); expected {allowed}",
            node,
        )
        return None
    if value > policy.max_expires_in_days:
        out.add(
            EXPIRES,
            f"{value} is above the maximum of {policy.max_expires_in_days} days; expected {allowed}",
            node,
        )
        return None
    return value


def check_schedule_text(text: str, policy: Policy) -> tuple[Schedule | None, str | None]:
    """(schedule, None) when acceptable, else (None or the parsed schedule, problem)."""
    try:
        schedule = parse_schedule(text)
    except ScheduleError as exc:
        return None, str(exc)
    interval = min_interval_minutes(schedule)
    if interval is not None and interval < policy.min_interval_minutes:
        return None, (
            f"runs as often as every {interval} minute{'s' if interval != 1 else ''}; two consecutive runs "
            f"must be at least {policy.min_interval_minutes} minutes apart"
        )
    return schedule, None


def _check_schedule(node: Node, policy: Policy, out: Problems) -> tuple[str, Schedule] | None:
    if not (isinstance(node, ScalarNode) and node.tag == STR):
        out.add(
            SCHEDULE,
            f"{scalar_text(node)} is {kind_of(node)}; expected a quoted unix-cron string such as "
            '"30 19 * * *"',
            node,
        )
        return None
    text = str(node.value)
    schedule, problem = check_schedule_text(text, policy)
    if schedule is None:
        out.add(SCHEDULE, f"{scalar_text(node)}: {problem}", node)
        return None
    return text.strip(" \t"), schedule


def _check_time_zone(node: Node, out: Problems) -> str | None:
    if not (isinstance(node, ScalarNode) and node.tag == STR):
        out.add(
            TIME_ZONE,
            f"{scalar_text(node)} is {kind_of(node)}; expected an IANA time zone name such as Europe/Kiev",
            node,
        )
        return None
    name = str(node.value)
    problem = time_zone_problem(name)
    if problem is not None:
        out.add(TIME_ZONE, f"{scalar_text(node)}: {problem}", node)
        return None
    return name


def _find_global(root: Node | None, out: Problems) -> MappingNode | None:
    found = find_key(root, "global", out, what="values.yaml")
    if found is None:
        return None
    if not isinstance(found.value, MappingNode):
        out.add(
            "global", f"{scalar_text(found.value)} is {kind_of(found.value)}; expected a mapping", found.value
        )
        return None
    return found.value


def validate_values_text(
    text: str, policy: Policy = DEFAULT_POLICY, *, now: datetime | None = None
) -> ValidationResult:
    """Validate values.yaml text. ``now`` anchors the daylight-saving warnings (default: the clock)."""
    out = Problems()
    try:
        root = compose_strict(text)
    except YamlError as exc:
        return ValidationResult(None, (FieldError("values.yaml", exc.message, exc.line),), (), None, None)

    enabled: bool | None = policy.default_enabled
    schedule_text: str | None = policy.default_schedule
    expires: int | None = policy.default_expires_in_days
    zone: str | None = policy.default_time_zone
    schedule: Schedule | None = parse_schedule(policy.default_schedule)

    global_node = _find_global(root, out)
    if global_node is not None:
        glob = unique_entries(global_node, "global", out)
        if "timeZone" in glob:
            zone = _check_time_zone(glob["timeZone"].value, out)
        backup = glob.get("registryBackup")
        if backup is not None:
            if not isinstance(backup.value, MappingNode):
                out.add(
                    "global.registryBackup",
                    f"{scalar_text(backup.value)} is {kind_of(backup.value)}; "
                    "expected a mapping with enabled, schedule and expiresInDays",
                    backup.value,
                )
            else:
                fields = unique_entries(backup.value, "global.registryBackup", out)
                for key, entry in fields.items():
                    if key not in KNOWN_BACKUP_KEYS:
                        close = difflib.get_close_matches(key, KNOWN_BACKUP_KEYS, n=1)
                        hint = f"; did you mean {close[0]!r}?" if close else ""
                        out.add(
                            f"global.registryBackup.{key}",
                            f"unknown key {key!r}: allowed keys are {', '.join(KNOWN_BACKUP_KEYS)}{hint}",
                            entry.key_node,
                        )
                if "enabled" in fields:
                    enabled = _check_enabled(fields["enabled"].value, out)
                if "expiresInDays" in fields:
                    expires = _check_expires(fields["expiresInDays"].value, policy, out)
                if "schedule" in fields:
                    checked = _check_schedule(fields["schedule"].value, policy, out)
                    schedule_text, schedule = checked if checked is not None else (None, None)

    warnings: list[str] = []
    if schedule is not None and zone is not None:
        try:
            warnings = dst_warnings(schedule, ZoneInfo(zone), now or datetime.now(UTC))
        except (OverflowError, ValueError):
            warnings = []
    settings = None
    if not out.errors:
        assert enabled is not None and schedule_text is not None and expires is not None and zone is not None
        settings = BackupSettings(
            enabled=enabled, schedule=schedule_text, expires_in_days=expires, time_zone=zone
        )
    return ValidationResult(settings, out.in_line_order(), tuple(warnings), schedule, zone)


def written_backup_values(text: str) -> dict[str, str]:
    """The scalars under global.registryBackup as the file writes them (to show invalid settings).

    Only plain scalars of the known keys; anything unreadable gives an empty mapping.
    """
    try:
        root = compose_strict(text)
    except YamlError:
        return {}
    found: dict[str, str] = {}
    out = Problems()
    glob = _find_global(root, out)
    backup = unique_entries(glob, "global", out).get("registryBackup") if glob else None
    if backup is None or not isinstance(backup.value, MappingNode):
        return {}
    for key, entry in unique_entries(backup.value, "global.registryBackup", out).items():
        if key in KNOWN_BACKUP_KEYS and isinstance(entry.value, ScalarNode):
            found[key] = str(entry.value.value)
    return found
