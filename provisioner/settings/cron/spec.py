"""Jenkins timer-spec lines that fire exactly on a unix-cron schedule's runs.

Jenkins ANDs day of month and day of week and ORs the lines of a spec; vixie cron ORs the two day
fields when both are restricted. So that case becomes two lines, one per day field.
"""

from __future__ import annotations

from provisioner.settings.cron.schedule import Schedule


def jenkins_spec_lines(schedule: Schedule) -> list[str]:
    """Explicit five-field lines (macros written out, no ``H``) for a Jenkins ``TimerTrigger`` spec."""
    minute, hour, dom, month, dow = schedule.fields
    if schedule.day_or:
        return [f"{minute} {hour} {dom} {month} *", f"{minute} {hour} * {month} {dow}"]
    return [" ".join(schedule.fields)]
