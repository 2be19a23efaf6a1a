"""Reading a policy file: bounded read, strict YAML, a strict pydantic model, then consistency checks.

Imported only when ``--policy`` is given: pydantic is heavy, and the ``validate`` path without a
policy file stays light (tests/test_import_cost.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from yaml.nodes import MappingNode, Node

from provisioner.settings.cron import ScheduleError, min_interval_minutes, parse_schedule
from provisioner.settings.policy import (
    CREDENTIAL_ID,
    DEFAULT_JOB_OPTIONS,
    DEFAULT_POLICY,
    HARD_MAX_EXPIRES_IN_DAYS,
    HARD_MIN_EXPIRES_IN_DAYS,
    HARD_MIN_INTERVAL_MINUTES,
    MAX_INTERVAL_MINUTES,
    MAX_JOB_TIMEOUT_MINUTES,
    MIN_JOB_TIMEOUT_MINUTES,
    DrillOptions,
    InvalidPolicy,
    JobOptions,
    Policy,
)
from provisioner.settings.strict_yaml import (
    Problems,
    YamlError,
    compose_strict,
    construct_plain,
    line_of,
    mapping_entries,
    read_yaml_file,
)
from provisioner.settings.timezones import time_zone_problem

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Defaults(BaseModel):
    model_config = _STRICT
    enabled: bool = DEFAULT_POLICY.default_enabled
    schedule: str = DEFAULT_POLICY.default_schedule
    expiresInDays: int = DEFAULT_POLICY.default_expires_in_days
    timeZone: str = DEFAULT_POLICY.default_time_zone


class _Minimums(BaseModel):
    model_config = _STRICT
    expiresInDays: int = Field(
        default=HARD_MIN_EXPIRES_IN_DAYS, ge=HARD_MIN_EXPIRES_IN_DAYS, le=HARD_MAX_EXPIRES_IN_DAYS
    )
    intervalMinutes: int = Field(
        default=HARD_MIN_INTERVAL_MINUTES, ge=HARD_MIN_INTERVAL_MINUTES, le=MAX_INTERVAL_MINUTES
    )


_CREDENTIAL_PATTERN = rf"^{CREDENTIAL_ID.pattern}$"


class _Jobs(BaseModel):
    model_config = _STRICT
    timeoutMinutes: int = Field(
        default=DEFAULT_JOB_OPTIONS.timeout_minutes, ge=MIN_JOB_TIMEOUT_MINUTES, le=MAX_JOB_TIMEOUT_MINUTES
    )
    notifyCredentialId: str | None = Field(default=None, pattern=_CREDENTIAL_PATTERN)
    pingCredentialId: str | None = Field(default=None, pattern=_CREDENTIAL_PATTERN)


class _Drills(BaseModel):
    model_config = _STRICT
    schedule: str  # required: a drills section without a schedule is a mistake, not "off"


class _PolicyFile(BaseModel):
    model_config = _STRICT
    defaults: _Defaults = _Defaults()
    minimums: _Minimums = _Minimums()
    jobs: _Jobs = _Jobs()
    drills: _Drills | None = None


def load_policy(path: Path | None) -> Policy:
    """The policy in ``path`` (None: the built-in default policy)."""
    if path is None:
        return DEFAULT_POLICY
    return parse_policy_text(read_yaml_file(path, "policy file"), source=str(path))


def parse_policy_text(text: str, source: str = "policy") -> Policy:
    """Validate a policy document strictly (pydantic, extra keys forbidden, no type coercion)."""
    try:
        root = compose_strict(text, what=f"policy file {source}")
    except YamlError as exc:
        where = f" (line {exc.line})" if exc.line else ""
        raise InvalidPolicy(f"{exc.message}{where}") from exc
    try:
        # The node tree passed the strict checks; construct plain data with duplicate keys refused.
        data = construct_plain(root) if root is not None else {}
        if isinstance(data, dict) and "drills" in data and data["drills"] is None:
            problems = Problems()
            problems.add(
                "drills",
                'is empty; write drills: {schedule: "0 4 * * 0"} to schedule restore drills, or remove '
                "the key to have none",
                line=_line_at(root, ("drills",)),
            )
            _raise_if_any(problems, source)
        model = _PolicyFile.model_validate(data)
    except ValidationError as exc:
        problems = Problems()
        for err in exc.errors():
            loc = tuple(err["loc"])
            problems.add(".".join(str(p) for p in loc) or "(top)", err["msg"], line=_line_at(root, loc))
        _raise_if_any(problems, source)
    except ValueError as exc:
        raise InvalidPolicy(f"policy file {source} is invalid: {exc}") from exc
    d, m, j = model.defaults, model.minimums, model.jobs
    policy = Policy(
        default_enabled=d.enabled,
        default_schedule=d.schedule.strip(" \t"),
        default_expires_in_days=d.expiresInDays,
        default_time_zone=d.timeZone,
        min_expires_in_days=m.expiresInDays,
        min_interval_minutes=m.intervalMinutes,
        jobs=JobOptions(
            timeout_minutes=j.timeoutMinutes,
            notify_credential_id=j.notifyCredentialId,
            ping_credential_id=j.pingCredentialId,
        ),
    )
    _check_consistent(policy, source, root)
    drills = model.drills
    if drills is None:
        return policy
    schedule = drills.schedule.strip(" \t")
    problems = Problems()
    _check_schedule(schedule, "drills.schedule", policy, problems, _line_at(root, ("drills", "schedule")))
    _raise_if_any(problems, source)
    return dataclasses.replace(policy, drills=DrillOptions(schedule=schedule))


def _line_at(root: Node | None, loc: tuple[object, ...]) -> int | None:
    """The line of the key ``loc`` leads to (or of the deepest part of it present), for messages."""
    line = None
    node = root
    for part in loc:
        if not isinstance(node, MappingNode):
            break
        entry = next((e for e in mapping_entries(node) if e.key == str(part)), None)
        if entry is None:
            break
        line, node = line_of(entry.key_node), entry.value
    return line


def _raise_if_any(problems: Problems, source: str) -> None:
    if problems:
        listed = "; ".join(str(problem) for problem in problems.errors)
        raise InvalidPolicy(f"policy file {source} is invalid: {listed}")


def _check_schedule(text: str, field: str, policy: Policy, problems: Problems, line: int | None) -> None:
    """A schedule of the policy (backup default or drills): unix cron that Jenkins's grammar can carry,
    at most as often as minimums.intervalMinutes allows (at most hourly)."""
    try:
        schedule = parse_schedule(text)
    except ScheduleError as exc:
        problems.add("", f"{field} {text!r}: {exc}", line=line)
        return
    interval = min_interval_minutes(schedule)
    if interval is not None and interval < policy.min_interval_minutes:
        problems.add(
            "",
            f"{field} {text!r} runs every {interval} minutes, more often "
            f"than minimums.intervalMinutes ({policy.min_interval_minutes})",
            line=line,
        )


def _check_consistent(policy: Policy, source: str, root: Node | None) -> None:
    # The messages name their field first ("defaults.schedule '...' runs every ..."): no field column.
    problems = Problems()
    if not policy.min_expires_in_days <= policy.default_expires_in_days <= policy.max_expires_in_days:
        problems.add(
            "",
            f"defaults.expiresInDays {policy.default_expires_in_days} is outside "
            f"{policy.min_expires_in_days}..{policy.max_expires_in_days}",
            line=_line_at(root, ("defaults", "expiresInDays")) or _line_at(root, ("minimums",)),
        )
    line = _line_at(root, ("defaults", "schedule"))
    _check_schedule(policy.default_schedule, "defaults.schedule", policy, problems, line)
    zone_problem = time_zone_problem(policy.default_time_zone)
    if zone_problem:
        problems.add(
            "",
            f"defaults.timeZone {policy.default_time_zone!r}: {zone_problem}",
            line=_line_at(root, ("defaults", "timeZone")),
        )
    _raise_if_any(problems, source)
