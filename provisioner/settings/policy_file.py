"""Reading a policy file: bounded read, strict YAML, a strict pydantic model, then consistency checks.

Imported only when ``--policy`` is given: pydantic is heavy, and the ``validate`` path without a
policy file stays light (tests/test_import_cost.py).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    InvalidPolicy,
    JobOptions,
    Policy,
)
from provisioner.settings.strict_yaml import (
    Problems,
    YamlError,
    compose_strict,
    construct_plain,
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


class _PolicyFile(BaseModel):
    model_config = _STRICT
    defaults: _Defaults = _Defaults()
    minimums: _Minimums = _Minimums()
    jobs: _Jobs = _Jobs()


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
        model = _PolicyFile.model_validate(data)
    except ValidationError as exc:
        problems = Problems()
        for err in exc.errors():
            problems.add(".".join(str(p) for p in err["loc"]) or "(top)", err["msg"])
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
    _check_consistent(policy, source)
    return policy


def _raise_if_any(problems: Problems, source: str) -> None:
    if problems:
        listed = "; ".join(str(problem) for problem in problems.errors)
        raise InvalidPolicy(f"policy file {source} is invalid: {listed}")


def _check_consistent(policy: Policy, source: str) -> None:
    # The messages name their field first ("defaults.schedule '...' runs every ..."): no field column.
    problems = Problems()
    if not policy.min_expires_in_days <= policy.default_expires_in_days <= policy.max_expires_in_days:
        problems.add(
            "",
            f"defaults.expiresInDays {policy.default_expires_in_days} is outside "
            f"{policy.min_expires_in_days}..{policy.max_expires_in_days}",
        )
    try:
        schedule = parse_schedule(policy.default_schedule)
    except ScheduleError as exc:
        problems.add("", f"defaults.schedule {policy.default_schedule!r}: {exc}")
    else:
        interval = min_interval_minutes(schedule)
        if interval is not None and interval < policy.min_interval_minutes:
            problems.add(
                "",
                f"defaults.schedule {policy.default_schedule!r} runs every {interval} minutes, more often "
                f"than minimums.intervalMinutes ({policy.min_interval_minutes})",
            )
    zone_problem = time_zone_problem(policy.default_time_zone)
    if zone_problem:
        problems.add("", f"defaults.timeZone {policy.default_time_zone!r}: {zone_problem}")
    _raise_if_any(problems, source)
