"""Unix-cron schedules: parsing (vixie semantics), the interval guard, next runs by Jenkins's firing
rule, daylight-saving warnings, Jenkins spec lines and plain-English descriptions. Pure: no I/O."""

from __future__ import annotations

from provisioner.settings.cron.describe import describe
from provisioner.settings.cron.interval import min_interval_minutes
from provisioner.settings.cron.runs import Transition, dst_warnings, local_instants, next_runs, transitions
from provisioner.settings.cron.schedule import (
    MACROS,
    MAX_SCHEDULE_LENGTH,
    Schedule,
    ScheduleError,
    parse_schedule,
)
from provisioner.settings.cron.spec import jenkins_spec_lines

__all__ = [
    "MACROS",
    "MAX_SCHEDULE_LENGTH",
    "Schedule",
    "ScheduleError",
    "Transition",
    "describe",
    "dst_warnings",
    "jenkins_spec_lines",
    "local_instants",
    "min_interval_minutes",
    "next_runs",
    "parse_schedule",
    "transitions",
]
