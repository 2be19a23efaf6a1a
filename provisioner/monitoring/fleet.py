"""The health of every registry of a fleet: one row each, a table, JSON, and Prometheus metrics.

Pure: :class:`~provisioner.status.Status` objects (or a problem that kept one from being built) and a
clock in; rows, text and metric families out. ``provisioner status --fleet``, ``provisioner metrics``
and the console's ``/metrics`` all call these, so a person, a cron job and an alert see one truth.

``overdue`` is the ``status`` rule (two scheduled runs since the last success), computed from the
schedule in the registry's own time zone, so an alert needs no knowledge of cron. A registry is
*failing* when its status could not be worked out (unreadable values, invalid settings, an unreadable
store) or when backups exist but none verifies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from provisioner.status import Status, overdue

__all__ = [
    "FLEET_METRICS",
    "RegistryHealth",
    "failed",
    "fleet_metrics_text",
    "health_of",
    "render_table",
    "unhealthy",
]

FLEET_METRICS: dict[str, str] = {
    "registry_backup_enabled": "1 when automatic backups of the registry are on, 0 when off.",
    "registry_backup_overdue": "1 when two scheduled runs have passed since the last successful backup.",
    "registry_backup_failing": "1 when the registry's status cannot be worked out or no backup verifies.",
    "registry_backup_last_success_age_seconds": "Age of the last successful (verified) backup.",
    "registry_backup_next_run_timestamp_seconds": "When the next scheduled backup run is due, Unix time.",
}


@dataclass(frozen=True)
class RegistryHealth:
    registry: str
    status: Status | None  # None: the status could not be built (see problem)
    overdue: bool
    failing: bool
    problem: str | None = None

    @property
    def enabled(self) -> bool | None:
        return self.status.settings.enabled if self.status is not None else None

    def to_json(self, now: datetime) -> dict[str, object]:
        """Times in the registry's own zone, as ``provisioner status`` prints them."""
        status = self.status
        last = status.last if status is not None else None
        zone = ZoneInfo(status.settings.time_zone) if status is not None else UTC

        def local(moment: datetime | None) -> str | None:
            return moment.astimezone(zone).isoformat() if moment is not None else None

        return {
            "registry": self.registry,
            "enabled": self.enabled,
            "overdue": self.overdue,
            "failing": self.failing,
            "problem": self.problem,
            "lastSuccess": local(last.at) if last is not None else None,
            "lastSuccessAgeSeconds": (now - last.at).total_seconds() if last is not None else None,
            "deletesAt": local(last.deletes_at) if last is not None else None,
            "nextRun": local(status.next_runs[0]) if status is not None and status.next_runs else None,
            "warnings": list(status.warnings) if status is not None else [],
        }


def health_of(status: Status, now: datetime) -> RegistryHealth:
    """The health of a registry whose status could be built."""
    late = (
        status.settings.enabled and status.last is not None and overdue(status.settings, status.last.at, now)
    )
    failing = status.last is None and bool(status.backups_kept)  # backups exist, none verifies
    return RegistryHealth(status.registry, status, late, failing)


def failed(registry: str, problem: str) -> RegistryHealth:
    """A registry whose status could not be built (values unreadable or invalid, store unreadable)."""
    return RegistryHealth(registry, None, False, True, problem)


def unhealthy(rows: Sequence[RegistryHealth]) -> bool:
    return any(row.overdue or row.failing for row in rows)


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{rest // 60:02d}m"


def _local(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def render_table(rows: Sequence[RegistryHealth], now: datetime) -> str:
    """One line per registry: on/off, last success and its age, deletion date, next run, overdue."""
    header = ("REGISTRY", "ON", "LAST SUCCESS", "AGE", "DELETES", "NEXT RUN", "OVERDUE")
    table: list[tuple[str, ...]] = [header]
    for row in rows:
        status = row.status
        if status is None:
            table.append((row.registry, "?", "-", "-", "-", "-", "FAILING"))
            continue
        zone, last = status.settings.time_zone, status.last
        table.append(
            (
                row.registry,
                "on" if status.settings.enabled else "off",
                _local(last.at, zone) if last else "never",
                _age((now - last.at).total_seconds()) if last else "-",
                _local(last.deletes_at, zone) if last and last.deletes_at else "-",
                _local(status.next_runs[0], zone) if status.next_runs else "-",
                "FAILING" if row.failing else ("YES" if row.overdue else "no"),
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]
    problems = [f"{row.registry}: {row.problem}" for row in rows if row.problem]
    warnings = [f"{row.registry}: {w}" for row in rows if row.status for w in row.status.warnings]
    lines.extend(f"problem: {text}" for text in problems)
    lines.extend(f"warning: {text}" for text in warnings)
    return "\n".join(lines)


def _samples(rows: Sequence[RegistryHealth], now: datetime) -> Iterator[tuple[str, str, float]]:
    for row in rows:
        status = row.status
        yield "registry_backup_failing", row.registry, float(row.failing)
        if status is None:
            continue
        yield "registry_backup_enabled", row.registry, float(status.settings.enabled)
        yield "registry_backup_overdue", row.registry, float(row.overdue)
        if status.last is not None:
            yield (
                "registry_backup_last_success_age_seconds",
                row.registry,
                (now - status.last.at).total_seconds(),
            )
        if status.next_runs:
            yield "registry_backup_next_run_timestamp_seconds", row.registry, status.next_runs[0].timestamp()


def fleet_metrics_text(rows: Sequence[RegistryHealth], now: datetime) -> str:
    """The Prometheus text format (0.0.4) of the fleet's health (what /metrics serves)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    by_name: dict[str, list[tuple[str, float]]] = {name: [] for name in FLEET_METRICS}
    for name, registry, value in _samples(rows, now):
        by_name[name].append((registry, value))

    class _Fleet(Collector):
        def collect(self) -> Iterator[GaugeMetricFamily]:
            for name, help_text in FLEET_METRICS.items():
                family = GaugeMetricFamily(name, help_text, labels=["registry"])
                for registry, value in sorted(by_name[name]):
                    family.add_metric([registry], value)
                yield family

    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(_Fleet())
    return generate_latest(collectors).decode("utf-8")
