"""The README's Monitoring section lists exactly the metrics the code writes and the alerts it ships."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from provisioner.backup.metrics import METRICS, PREFIX
from provisioner.monitoring.fleet import FLEET_METRICS

ROOT = Path(__file__).resolve().parents[2]


def section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- section: monitoring -->")
    return text[start : text.index("<!-- section:", start + 10)]


def test_metrics_tables_match_the_code() -> None:
    named = set(re.findall(r"`(registry_backup_[a-z_]+)`", section()))
    written = {PREFIX + name for name in METRICS} | set(FLEET_METRICS)
    assert written <= named
    assert named - written == set()


def test_alert_table_matches_the_rule_file() -> None:
    rules = yaml.safe_load((ROOT / "monitoring" / "alerts.yaml").read_text())["groups"][0]["rules"]
    rows = re.findall(r"^\| `(RegistryBackup[A-Za-z]+)` \|.*\| (\w+) \| (\w+) \|$", section(), flags=re.M)
    assert rows == [(r["alert"], r["for"], r["labels"]["severity"]) for r in rules]
