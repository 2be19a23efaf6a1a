"""monitoring/alerts.yaml, unit-tested with ``promtool test rules`` against series the tools wrote.

The textfile series come from real ``backup-registry`` runs (and its metrics writer for the store and
drill gauges no run can fake: a nearly full disk, a drill); the fleet series come from
``fleet_metrics_text`` evaluated every 5 minutes of a simulated 3 days. Time starts at the Unix epoch,
as promtool's does, so the runs are made with ``--now 1970-01-01T...``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from provisioner.backup.cli import main as backup_main
from provisioner.backup.metrics import record
from provisioner.commands.status import last_from_store
from provisioner.monitoring.fleet import fleet_metrics_text, health_of
from provisioner.settings.model import BackupSettings
from provisioner.status import LastBackup, build_status

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring" / "alerts.yaml"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
DAILY = BackupSettings(enabled=True, schedule="30 19 * * *", expires_in_days=7, time_zone="UTC")


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool must be installed (Debian package prometheus; ./dev installs it)"
    return found


def parse(text: str) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels["registry"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def series_name(name: str, registry: str) -> str:
    return f'{name}{{registry="{registry}"}}'


def number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def textfile_series(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[tuple[str, str], float], Path]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "blob").write_bytes(os.urandom(4096))
    store, prom = tmp_path / "store", tmp_path / "backup.prom"
    path = os.environ["PATH"]

    def run(registry: str, at: str, ok: bool = True) -> int:
        monkeypatch.setenv("PATH", path if ok else str(tmp_path))  # no pg_dump: fails after validation
        what = ["--source", str(src)] if ok else ["--pg-database", "app"]
        argv = ["run", "--registry", registry, "--store", str(store), "--metrics-file", str(prom)]
        return backup_main([*argv, "--expires-in-hours", "168", "--now", f"1970-01-01T{at}:00Z", *what])

    for registry in ("alpha", "beta", "gamma", "zeta"):
        assert run(registry, "00:00") == 0
    assert run("gamma", "01:00", ok=False) == 3  # gamma: failed after its success
    assert run("zeta", "01:00", ok=False) == 3
    assert run("zeta", "02:00") == 0  # zeta: fixed again
    monkeypatch.setenv("PATH", path)
    day = 86400.0
    record(
        prom,
        "full",
        {"store_free_bytes": 5e9, "store_size_bytes": 100e9, "last_success_timestamp_seconds": 0},
    )
    record(
        prom,
        "roomy",
        {"store_free_bytes": 50e9, "store_size_bytes": 100e9, "last_success_timestamp_seconds": 0},
    )
    record(prom, "alpha", {"last_drill_success_timestamp_seconds": 0})
    record(prom, "zeta", {"last_drill_success_timestamp_seconds": 5 * day})
    return parse(prom.read_text()), store


def fleet_series(store: Path, hours: int) -> dict[tuple[str, str], list[str]]:
    """The fleet gauges every 5 minutes: alpha backed up once, beta daily, delta never, epsilon off."""
    series: dict[tuple[str, str], list[str]] = {}
    alpha_last, _, _ = last_from_store(store, "alpha")  # the real backup, read back from the store
    assert alpha_last is not None and alpha_last.at == EPOCH
    steps = hours * 12
    for k in range(steps + 1):
        now = EPOCH + k * STEP
        beta_runs = [EPOCH + timedelta(days=d, hours=19, minutes=30) for d in range(4)]
        beta_at = max([EPOCH, *[r for r in beta_runs if r <= now]])
        statuses = [
            build_status("alpha", DAILY, source="store", now=now, last=alpha_last, backups_kept=1),
            build_status(
                "beta", DAILY, source="store", now=now, last=LastBackup("b", beta_at, None), backups_kept=1
            ),
            build_status("delta", DAILY, source="store", now=now, last=None, backups_kept=0),
            build_status(
                "epsilon",
                BackupSettings(False, "30 19 * * *", 7, "UTC"),
                source="store",
                now=now,
                last=None,
                backups_kept=0,
            ),
        ]
        samples = parse(fleet_metrics_text([health_of(s, now) for s in statuses], now))
        for key in samples.keys() | series.keys():
            series.setdefault(key, ["_"] * k).append(number(samples[key]) if key in samples else "_")
    return series


def alert(name: str, registry: str, rules: dict[str, dict[str, object]]) -> dict[str, object]:
    rule = rules[name]
    labels = dict(rule["labels"])  # type: ignore[call-overload]
    annotations = {
        k: str(v).replace("{{ $labels.registry }}", registry)
        for k, v in rule["annotations"].items()  # type: ignore[attr-defined]
    }
    return {"exp_labels": {**labels, "registry": registry}, "exp_annotations": annotations}


@pytest.fixture
def promtool_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    textfile, store = textfile_series(tmp_path, monkeypatch)
    rules = {r["alert"]: r for r in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]}
    hours = 50
    constant = [
        {"series": series_name(name, registry), "values": f"{number(value)}+0x{hours * 12}"}
        for (name, registry), value in sorted(textfile.items())
    ]
    fleet = [
        {"series": series_name(name, registry), "values": " ".join(values)}
        for (name, registry), values in sorted(fleet_series(store, hours).items())
    ]
    full = [
        r
        for (n, r), v in textfile.items()
        if n == "registry_backup_store_free_bytes"
        and v / textfile[("registry_backup_store_size_bytes", r)] < 0.10
    ]
    assert "full" in full and "roomy" not in full
    main_group = {
        "interval": "5m",
        "input_series": constant + fleet,
        "alert_rule_test": [
            {
                "eval_time": "30m",
                "alertname": "RegistryBackupLastRunFailed",
                "exp_alerts": [alert("RegistryBackupLastRunFailed", "gamma", rules)],
            },  # not zeta: fixed
            {"eval_time": "43h", "alertname": "RegistryBackupOverdue", "exp_alerts": []},
            {
                "eval_time": "44h",
                "alertname": "RegistryBackupOverdue",
                "exp_alerts": [alert("RegistryBackupOverdue", "alpha", rules)],
            },  # not beta: backed up daily
            {"eval_time": "47h", "alertname": "RegistryBackupNeverSucceeded", "exp_alerts": []},
            {
                "eval_time": "49h",
                "alertname": "RegistryBackupNeverSucceeded",
                "exp_alerts": [alert("RegistryBackupNeverSucceeded", "delta", rules)],
            },  # not epsilon: off
            {
                "eval_time": "1h",
                "alertname": "RegistryBackupStoreNearlyFull",
                "exp_alerts": [alert("RegistryBackupStoreNearlyFull", r, rules) for r in sorted(full)],
            },
            {"eval_time": "1h", "alertname": "RegistryBackupDrillFailing", "exp_alerts": []},
        ],
    }
    drills = [s for s in constant if "drill" in s["series"]]
    days = 10
    drill_group = {
        "interval": "5m",  # samples closer than the 5-minute lookback, or the series goes stale
        "input_series": [{**s, "values": s["values"].split("+0x")[0] + f"+0x{days * 288}"} for s in drills],
        "alert_rule_test": [
            {"eval_time": "8d", "alertname": "RegistryBackupDrillFailing", "exp_alerts": []},
            {
                "eval_time": "9d",
                "alertname": "RegistryBackupDrillFailing",
                "exp_alerts": [alert("RegistryBackupDrillFailing", "alpha", rules)],
            },  # not zeta (day 5)
        ],
    }
    return {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": [main_group, drill_group]}


def run_promtool(tests: dict[str, object], where: Path) -> subprocess.CompletedProcess[str]:
    test_file = where / "alerts-test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    return subprocess.run(
        [promtool(), "test", "rules", str(test_file)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_alert_rules_check() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


def test_alert_rules_fire_exactly_when_they_should(promtool_tests: dict[str, object], tmp_path: Path) -> None:
    done = run_promtool(promtool_tests, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_catches_a_wrong_expectation(promtool_tests: dict[str, object], tmp_path: Path) -> None:
    """The harness can fail: beta (backed up daily) must not be overdue, so expecting it fails."""
    rules = {r["alert"]: r for r in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]}
    group = promtool_tests["tests"][0]  # type: ignore[index]
    group["alert_rule_test"] = [
        {
            "eval_time": "44h",
            "alertname": "RegistryBackupOverdue",
            "exp_alerts": [
                alert("RegistryBackupOverdue", "alpha", rules),
                alert("RegistryBackupOverdue", "beta", rules),
            ],
        }
    ]
    done = run_promtool(promtool_tests, tmp_path)
    assert done.returncode != 0
    assert "RegistryBackupOverdue" in done.stdout + done.stderr
