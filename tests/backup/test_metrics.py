"""The metrics textfile: parsed by Prometheus's own text parser, merged across runs and registries,
atomic (never half-written, even when the writer is killed), and moved only as the rules say."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from provisioner.backup.cli import main
from provisioner.backup.metrics import METRICS, merge, parse_metrics, record, render_metrics
from tests.backup.restore_helpers import read_members, repack

NOW = "2026-11-22T19:30:00Z"
NOW_TS = datetime(2026, 11, 22, 19, 30, tzinfo=UTC).timestamp()


def samples(path: Path) -> dict[tuple[str, str], float]:
    """Every sample of the file, by the Prometheus client's parser: (name, registry) -> value."""
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        assert family.type == "gauge" and family.documentation
        for sample in family.samples:
            assert set(sample.labels) == {"registry"}
            out[(sample.name, sample.labels["registry"])] = sample.value
    return out


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> int:
    code = main(list(argv))
    capsys.readouterr()
    return code


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "data").write_bytes(os.urandom(5000))
    return src


def test_run_prune_verify_write_the_gauges(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics, store = tmp_path / "node" / "backup.prom", str(tmp_path / "store")
    metrics.parent.mkdir()
    common = ["--store", store, "--metrics-file", str(metrics)]
    assert (
        cli(
            capsys,
            "run",
            "--registry",
            "alpha",
            *common,
            "--source",
            str(source),
            "--expires-in-hours",
            "168",
            "--now",
            NOW,
        )
        == 0
    )
    got = samples(metrics)
    p = "registry_backup_"
    assert got[(p + "last_attempt_timestamp_seconds", "alpha")] == NOW_TS
    assert NOW_TS <= got[(p + "last_success_timestamp_seconds", "alpha")] < NOW_TS + 60
    assert got[(p + "last_verified_timestamp_seconds", "alpha")] == NOW_TS
    assert got[(p + "backups_kept", "alpha")] == 1
    assert got[(p + "oldest_restore_point_timestamp_seconds", "alpha")] == NOW_TS
    assert got[(p + "size_bytes", "alpha")] > 0 and got[(p + "duration_seconds", "alpha")] > 0
    assert 0 < got[(p + "store_free_bytes", "alpha")] <= got[(p + "store_size_bytes", "alpha")]
    assert (p + "last_failure_timestamp_seconds", "alpha") not in got
    assert oct(metrics.stat().st_mode & 0o777) == "0o644"

    # a second registry keeps the first one's samples; env fallback
    os.environ["BACKUP_METRICS_FILE"] = str(metrics)
    try:
        assert (
            cli(
                capsys,
                "run",
                "--registry",
                "beta",
                "--store",
                store,
                "--source",
                str(source),
                "--expires-in-hours",
                "168",
            )
            == 0
        )
    finally:
        del os.environ["BACKUP_METRICS_FILE"]
    both = samples(metrics)
    assert {k: v for k, v in both.items() if k[1] == "alpha"} == got
    assert both[(p + "backups_kept", "beta")] == 1

    # verify and prune move only what they know
    assert cli(capsys, "verify", "--registry", "alpha", *common) == 0
    after_verify = samples(metrics)
    assert after_verify[(p + "last_verified_timestamp_seconds", "alpha")] > NOW_TS
    assert (
        after_verify[(p + "last_success_timestamp_seconds", "alpha")]
        == got[(p + "last_success_timestamp_seconds", "alpha")]
    )
    assert cli(capsys, "prune", "--registry", "alpha", *common, "--now", NOW) == 0
    assert samples(metrics)[(p + "backups_kept", "alpha")] == 1
    assert not [n for n in os.listdir(metrics.parent) if n not in ("backup.prom", "backup.prom.lock")]


def test_a_failure_moves_only_attempt_and_failure(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = tmp_path / "backup.prom"
    common = [
        "--registry",
        "alpha",
        "--store",
        str(tmp_path / "store"),
        "--metrics-file",
        str(metrics),
        "--expires-in-hours",
        "168",
    ]
    assert cli(capsys, "run", *common, "--source", str(source), "--now", NOW) == 0
    before = samples(metrics)
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump: fails after validation
    assert cli(capsys, "run", *common, "--pg-database", "app", "--now", "2026-11-23T19:30:00Z") == 3
    after = samples(metrics)
    p = "registry_backup_"
    moved = {k for k in after if after[k] != before.get(k)}
    assert moved == {
        (p + "last_attempt_timestamp_seconds", "alpha"),
        (p + "last_failure_timestamp_seconds", "alpha"),
    }
    assert after[(p + "last_attempt_timestamp_seconds", "alpha")] == NOW_TS + 86400


def test_merge_parse_render_round_trip() -> None:
    state = merge({}, "a", {"backups_kept": 3, "size_bytes": 1e12})
    state = merge(state, "b", {"backups_kept": 0})
    state = merge(state, "a", {"backups_kept": 4})
    text = render_metrics(state)
    assert parse_metrics(text) == state
    assert "# TYPE registry_backup_backups_kept gauge" in text
    assert 'registry_backup_backups_kept{registry="a"} 4.0' in text
    with pytest.raises(ValueError, match="unknown"):
        merge(state, "a", {"bogus": 1})


def test_foreign_and_hostile_samples_are_dropped() -> None:
    text = (
        "other_metric 1\n"
        'registry_backup_backups_kept{registry="ok"} 2\n'
        'registry_backup_backups_kept{registry="Bad Name"} 2\n'
        'registry_backup_backups_kept{registry="x",extra="y"} 2\n'
        'registry_backup_size_bytes{registry="ok"} NaN\n'
        'registry_backup_bogus{registry="ok"} 1\n'
    )
    state = parse_metrics(text)
    assert state["backups_kept"] == {"ok": 2.0} and state["size_bytes"] == {}
    assert set(state) == set(METRICS)


def test_a_damaged_file_is_replaced_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    path.write_bytes(b"\xff\xfe garbage {{{\n")
    assert record(path, "a", {"backups_kept": 1}) is not None
    assert parse_metrics(path.read_text())["backups_kept"] == {"a": 1.0}


def test_unwritable_metrics_never_fail_the_backup(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = tmp_path / "m" / "backup.prom"
    metrics.mkdir(parents=True)  # a directory where the file should be: refused at the door
    args = [
        "run",
        "--registry",
        "a",
        "--store",
        str(tmp_path / "s"),
        "--source",
        str(source),
        "--expires-in-hours",
        "168",
    ]
    assert cli(capsys, *args, "--metrics-file", str(metrics)) == 1
    assert cli(capsys, *args, "--metrics-file", str(tmp_path / "backup.txt")) == 1  # not *.prom
    assert cli(capsys, *args, "--metrics-file", str(tmp_path / "nodir" / "b.prom")) == 1
    lock = tmp_path / "x.prom.lock"
    lock.mkdir()  # the lock cannot be opened: logged, the run still succeeds
    assert cli(capsys, *args, "--metrics-file", str(tmp_path / "x.prom")) == 0
    assert not (tmp_path / "x.prom").exists()


_WRITER = """
import sys
from pathlib import Path
from provisioner.backup.metrics import record
path = Path(sys.argv[1])
i = 0
print("ready", flush=True)
while True:
    i += 1
    record(path, f"r{i % 50}", {"backups_kept": i, "size_bytes": i * 1000, "duration_seconds": i / 7})
"""


def test_never_half_written_when_the_writer_is_killed(tmp_path: Path) -> None:
    """A writer merging in a loop is SIGKILLed at many points; a reader only ever sees whole files."""
    path = tmp_path / "backup.prom"
    record(path, "r0", {"backups_kept": 0})
    repo = Path(__file__).resolve().parents[2]
    seen = 0
    for round_ in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)], cwd=repo, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        deadline = time.monotonic() + 0.05 + 0.03 * round_
        while time.monotonic() < deadline:
            text = path.read_text()
            state = parse_metrics(text)  # raises on a torn file
            assert text.endswith("\n") and state["backups_kept"]
            seen += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        parse_metrics(path.read_text())
    assert seen > 12
    # leftovers of killed writers are temp files that node_exporter ignores (not *.prom) ...
    assert all(not n.endswith(".prom") or n == "backup.prom" for n in os.listdir(tmp_path))
    # ... and the next writer removes them
    record(path, "r0", {"backups_kept": 0})
    assert sorted(os.listdir(tmp_path)) == ["backup.prom", "backup.prom.lock"]


def test_pushgateway_gets_only_what_the_run_set(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from provisioner.backup import metrics
    from tests.helpers.webhook import webhook

    monkeypatch.setattr(metrics, "PUSH_DEADLINE", 2.0)
    common = ["--registry", "alpha", "--store", str(tmp_path / "store"), "--expires-in-hours", "168"]
    with webhook(token="gw") as gateway:
        base = gateway.url.removesuffix("/hook/gw")
        monkeypatch.setenv("BACKUP_PUSHGATEWAY_URL", base + "/")
        assert cli(capsys, "run", *common, "--source", str(source), "--now", NOW) == 0
        monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump: the next run fails
        assert cli(capsys, "run", *common, "--pg-database", "app", "--now", NOW) == 3
        gateway.status = 500  # a broken gateway changes nothing but the log
        assert cli(capsys, "run", *common, "--pg-database", "app", "--now", NOW) == 3
        out = capsys.readouterr()
    assert "127.0.0.1" not in out.out + out.err
    paths = {path for path, _ in gateway.received}
    assert paths == {"/metrics/job/registry_backup/registry/alpha"}
    success = {
        s.name for f in text_string_to_metric_families(gateway.received[0][1].decode()) for s in f.samples
    }
    failure = {
        s.name for f in text_string_to_metric_families(gateway.received[1][1].decode()) for s in f.samples
    }
    assert "registry_backup_last_success_timestamp_seconds" in success
    assert (
        "registry_backup_backups_kept" in success
        and "registry_backup_last_failure_timestamp_seconds" not in success
    )
    assert failure == {
        "registry_backup_last_attempt_timestamp_seconds",
        "registry_backup_last_failure_timestamp_seconds",
    }


def test_a_drill_sets_the_drill_gauge_only_when_it_matches(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics, store = tmp_path / "node" / "backup.prom", tmp_path / "store"
    metrics.parent.mkdir()
    backup = ["run", "--registry", "alpha", "--store", str(store), "--source", str(source)]
    assert cli(capsys, *backup, "--expires-in-hours", "168") == 0
    drill = ["drill", "--registry", "alpha", "--store", str(store), "--metrics-file", str(metrics)]
    before = time.time()
    assert cli(capsys, *drill) == 0
    gauge = ("registry_backup_last_drill_success_timestamp_seconds", "alpha")
    first = samples(metrics)[gauge]
    assert before <= first <= time.time()
    # The data changes behind the manifest's back: the drill fails and the gauge stays where it was.
    (archive,) = (store / "alpha").glob("*.tar.zst")
    members = read_members(archive)
    index = next(i for i, (info, _) in enumerate(members) if info.name.endswith("/data"))
    info, data = members[index]
    members[index] = (info, bytes(b ^ 0xFF for b in data))
    repack(archive, members)
    assert cli(capsys, *drill) == 3
    assert samples(metrics)[gauge] == first
