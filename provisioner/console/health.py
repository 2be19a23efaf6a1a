"""/healthz (pass, warn or fail) and /metrics (Prometheus text) of the console.

Both come from the fleet health rows of :mod:`provisioner.monitoring.fleet`, the rows
``provisioner status --fleet`` and ``provisioner metrics`` print, so the console, a cron job and an
alert see one truth. fail: a registry is failing (its repository or store cannot be read, its
settings are invalid, or backups exist and none verifies); warn: backups are on and overdue.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from provisioner.console.state import FactsSource, RegistrySource, Settings
from provisioner.errors import ProvisionerError
from provisioner.monitoring.fleet import RegistryHealth, failed, fleet_metrics_text, health_of
from provisioner.status import build_status


def health_rows(
    sources: Iterable[RegistrySource], settings: Settings, facts: FactsSource, now: datetime
) -> list[RegistryHealth]:
    rows: list[RegistryHealth] = []
    for source in sources:
        try:
            committed, found = settings.committed(source), facts.facts(source)
        except ProvisionerError as exc:
            rows.append(failed(source.name, exc.message))
            continue
        values = committed.result.settings
        if values is None:
            errors = "; ".join(str(error) for error in committed.result.errors)
            rows.append(failed(source.name, f"invalid settings in {source.values_path}: {errors}"))
            continue
        status = build_status(
            source.name,
            values,
            source="store" if found.kept is not None else "jenkins",
            now=now,
            last=found.last,
            backups_kept=len(found.kept) if found.kept is not None else None,
            warnings=list(found.warnings),
        )
        rows.append(health_of(status, now))
    return rows


def report(rows: Iterable[RegistryHealth]) -> dict[str, object]:
    checks = []
    for row in rows:
        state = "fail" if row.failing else "warn" if row.overdue else "pass"
        detail = "failing" if row.failing else "backups are overdue" if row.overdue else "ok"
        checks.append({"registry": row.registry, "status": state, "detail": detail})
    states = {check["status"] for check in checks}
    worst = "fail" if "fail" in states else "warn" if "warn" in states else "pass"
    return {"status": worst, "checks": checks}


def metrics_text(rows: Iterable[RegistryHealth], now: datetime) -> bytes:
    return fleet_metrics_text(list(rows), now).encode("utf-8")
