"""SIGKILL in the middle of a large backup: no backup visible; the next run cleans up and succeeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from provisioner.backup.store import list_backups
from tests.backup.conftest import SCRIPT, base_env, run_script


def test_sigkill_mid_backup(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(24):  # 192 MiB of incompressible data: long enough to be caught in the middle
        (big / f"blob-{i:02d}.bin").write_bytes(os.urandom(8 << 20))
    store = tmp_path / "store"
    folder = store / "demo"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "run",
            "--registry",
            "demo",
            "--expires-in-hours",
            "168",
            "--source",
            str(big),
            "--store",
            str(store),
        ],
        env=base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    temp: list[Path] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        temp = [p for p in folder.glob(".backup-registry-tmp-*.tar.zst.*")] if folder.is_dir() else []
        if temp and temp[0].stat().st_size >= 16 << 20:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the backup finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL

    assert list_backups(store, "demo") == []  # nothing visible
    assert not list(folder.glob("*.json")) and not list(folder.glob("2*.tar.zst"))
    leftovers = sorted(p.name for p in folder.glob(".backup-registry-tmp-*"))
    backup_id = temp[0].name.removeprefix(".backup-registry-tmp-").split(".")[0]
    assert leftovers == sorted(
        [temp[0].name, f".backup-registry-tmp-pending-{backup_id}"]
    )  # partial + marker

    small = tmp_path / "small"
    small.mkdir()
    (small / "f.txt").write_text("after the crash\n")
    result = run_script(
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        "--source",
        str(small),
        "--store",
        str(store),
    )
    assert result.code == 0, result.stderr  # the lock died with the killed process
    assert "removed leftovers of an interrupted run" in result.stderr
    assert not list(folder.glob(".backup-registry-tmp-*"))
    assert len(list_backups(store, "demo")) == 1
