"""/healthz (pass, warn or fail per registry) and /metrics (Prometheus text) of the console.

fail: a registry's repository cannot be read. warn: its committed settings are invalid, or backups
are on and overdue. The metrics are deliberately few (the `provisioner metrics` command owns the
full set): per registry, whether backups are on, the last successful backup's time, and overdue.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from provisioner.console.state import Facts, FactsSource, RegistrySource, Settings
from provisioner.errors import ProvisionerError
from provisioner.settings.model import BackupSettings
from provisioner.status import overdue

_RANK = {"pass": 0, "warn": 1, "fail": 2}


def _read(
    source: RegistrySource, settings: Settings, facts: FactsSource
) -> tuple[BackupSettings | None, Facts | None, str | None]:
    try:
        committed = settings.committed(source)
        return committed.result.settings, facts.facts(source), None
    except ProvisionerError as exc:
        return None, None, exc.message


def _is_overdue(settings: BackupSettings | None, facts: Facts | None, now: datetime) -> bool:
    return bool(
        settings is not None
        and settings.enabled
        and facts is not None
        and facts.last is not None
        and overdue(settings, facts.last.at, now)
    )


def report(
    sources: Iterable[RegistrySource], settings: Settings, facts: FactsSource, now: datetime
) -> dict[str, object]:
    checks: list[dict[str, str]] = []
    for source in sources:
        values, found, problem = _read(source, settings, facts)
        if problem is not None:
            checks.append(
                {"registry": source.name, "status": "fail", "detail": "repository or store unreadable"}
            )
        elif values is None:
            checks.append(
                {"registry": source.name, "status": "warn", "detail": "committed settings are invalid"}
            )
        elif _is_overdue(values, found, now):
            checks.append({"registry": source.name, "status": "warn", "detail": "backups are overdue"})
        else:
            checks.append({"registry": source.name, "status": "pass", "detail": "ok"})
    worst = max((c["status"] for c in checks), key=_RANK.__getitem__, default="pass")
    return {"status": worst, "checks": checks}


def metrics_text(
    sources: Iterable[RegistrySource], settings: Settings, facts: FactsSource, now: datetime
) -> bytes:
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry()
    enabled = Gauge(
        "registry_backup_enabled", "1 when automatic backups are on", ["registry"], registry=registry
    )
    last = Gauge(
        "registry_backup_last_success_timestamp_seconds",
        "Unix time of the last successful (verified) backup",
        ["registry"],
        registry=registry,
    )
    late = Gauge(
        "registry_backup_overdue",
        "1 when two scheduled runs have passed since the last successful backup",
        ["registry"],
        registry=registry,
    )
    readable = Gauge(
        "registry_backup_console_source_up",
        "1 when the registry's repository and store are readable",
        ["registry"],
        registry=registry,
    )
    for source in sources:
        values, found, problem = _read(source, settings, facts)
        readable.labels(source.name).set(0 if problem is not None else 1)
        if values is not None:
            enabled.labels(source.name).set(1 if values.enabled else 0)
        if found is not None and found.last is not None:
            last.labels(source.name).set(found.last.at.timestamp())
        late.labels(source.name).set(1 if _is_overdue(values, found, now) else 0)
    return bytes(generate_latest(registry))
