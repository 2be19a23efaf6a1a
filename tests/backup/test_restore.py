"""`backup-registry restore` of archive backups: round trips, refusals, tampered archives, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from provisioner.backup.cli import main
from tests.backup.conftest import SCRIPT, base_env, held_lock
from tests.backup.restore_helpers import (
    forge_backup,
    listing,
    member,
    odd_tree,
    read_members,
    repack,
    tree_facts,
)

REG = "demo"


def _backup(store: Path, source: Path, now: str) -> str:
    code = main(["run", "--registry", REG, "--expires-in-hours", "168", "--store", str(store),
                 "--source", str(source), "--no-prune", "--now", now, "--format", "json"])  # fmt: skip
    assert code == 0
    return now.replace("-", "").replace(":", "")


def _restore(store: Path, *args: str) -> int:
    return main(["restore", "--registry", REG, "--store", str(store), *args])


@pytest.fixture
def odd(tmp_path: Path) -> Path:
    return odd_tree(tmp_path / "data")


def test_round_trip_byte_for_byte(odd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    backup_id = _backup(store, odd, "2026-11-01T10:00:00Z")
    capsys.readouterr()
    assert _restore(store, "--latest", "--to", str(tmp_path / "out"), "--format", "json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["id"] == backup_id
    assert tree_facts(tmp_path / "out" / "data") == tree_facts(odd)
    assert os.readlink(tmp_path / "out" / "data" / "abs-link") == "/etc/passwd"  # data, never followed
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["data"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".backup-registry-tmp")]


def test_restore_by_id_and_before(odd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    first = _backup(store, odd, "2026-11-01T10:00:00Z")
    (odd / "a.txt").chmod(0o644)
    (odd / "a.txt").write_text("changed\n")
    _backup(store, odd, "2026-11-02T10:00:00Z")
    assert _restore(store, "--before", "2026-11-01T23:00:00Z", "--to", str(tmp_path / "b")) == 0
    assert (tmp_path / "b" / "data" / "a.txt").read_text() == "hello registry\n"
    assert _restore(store, "--id", first, "--to", str(tmp_path / "c")) == 0
    assert (tmp_path / "c" / "data" / "a.txt").read_text() == "hello registry\n"
    assert _restore(store, "--latest", "--to", str(tmp_path / "d")) == 0
    assert (tmp_path / "d" / "data" / "a.txt").read_text() == "changed\n"
    assert _restore(store, "--before", "2026-10-01T00:00:00Z", "--to", str(tmp_path / "e")) == 3
    assert "has no backup at or before" in capsys.readouterr().err


def test_dry_run_writes_nothing(odd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    _backup(store, odd, "2026-11-01T10:00:00Z")
    capsys.readouterr()
    before = listing(tmp_path)
    assert _restore(store, "--latest", "--to", str(tmp_path / "out"), "--dry-run") == 0
    text = capsys.readouterr().out
    assert "would restore backup 20261101T100000Z" in text and "directory data" in text
    assert listing(tmp_path) == before


def test_non_empty_target_refused_without_force(
    odd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    _backup(store, odd, "2026-11-01T10:00:00Z")
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine\n")
    before = listing(tmp_path)
    assert _restore(store, "--latest", "--to", str(target)) == 1
    assert "is not empty (add --force" in capsys.readouterr().err
    assert listing(tmp_path) == before
    # --force restores beside what is there, never over it
    assert _restore(store, "--latest", "--to", str(target), "--force") == 0
    assert (target / "keep.txt").read_text() == "mine\n"
    assert tree_facts(target / "data") == tree_facts(odd)
    before = listing(tmp_path)
    assert _restore(store, "--latest", "--to", str(target), "--force") == 1
    assert "--force never replaces what is there" in capsys.readouterr().err
    assert listing(tmp_path) == before


def test_empty_existing_target_is_used(odd: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    _backup(store, odd, "2026-11-01T10:00:00Z")
    (tmp_path / "empty").mkdir(mode=0o750)
    assert _restore(store, "--latest", "--to", str(tmp_path / "empty")) == 0
    assert tree_facts(tmp_path / "empty" / "data") == tree_facts(odd)
    assert (tmp_path / "empty").stat().st_mode & 0o777 == 0o750


def test_corrupt_newest_falls_back_with_warning(
    odd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    good = _backup(store, odd, "2026-11-01T10:00:00Z")
    bad = _backup(store, odd, "2026-11-02T10:00:00Z")
    archive = store / REG / f"{bad}.tar.zst"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    capsys.readouterr()
    assert _restore(store, "--latest", "--to", str(tmp_path / "out")) == 0
    captured = capsys.readouterr()
    assert f"restored backup {good}" in captured.out
    assert f"WARNING: skipped backup {bad}" in captured.out
    assert "backup does not verify" in captured.err
    # --id of the corrupt one: refused (exit 3), nothing written, the good one named
    before = listing(tmp_path)
    assert _restore(store, "--id", bad, "--to", str(tmp_path / "out2")) == 3
    err = capsys.readouterr().err
    assert f"the newest backup that passes is {good}" in err
    assert listing(tmp_path) == before


TAMPERED = {
    "absolute": [(member("/tmp/evil-abs"), b"x")],
    "dotdot": [(member("dirs/x", tarfile.DIRTYPE, 0o755), b""), (member("dirs/x/../../evil"), b"x")],
    "symlink-escape": [
        (member("dirs/x", tarfile.DIRTYPE, 0o755), b""),
        (member("dirs/x/esc", tarfile.SYMTYPE, link="../../.."), b""),
        (member("dirs/x/esc/evil"), b"x"),
    ],
    "device": [
        (member("dirs/x", tarfile.DIRTYPE, 0o755), b""),
        (member("dirs/x/null", tarfile.CHRTYPE), b""),
    ],
    "fifo": [(member("dirs/x", tarfile.DIRTYPE, 0o755), b""), (member("dirs/x/p", tarfile.FIFOTYPE), b"")],
    "setuid": [(member("dirs/x", tarfile.DIRTYPE, 0o755), b""), (member("dirs/x/su", mode=0o4755), b"x")],
    "hardlink": [
        (member("dirs/x", tarfile.DIRTYPE, 0o755), b""),
        (member("dirs/x/h", tarfile.LNKTYPE, link="/etc/passwd"), b""),
    ],
    "duplicate": [
        (member("dirs/x", tarfile.DIRTYPE, 0o755), b""),
        (member("dirs/x/f"), b"1"),
        (member("dirs/x/f"), b"2"),
    ],
    "outside-layout": [(member("etc/evil"), b"x")],
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_tampered_archive_refused_nothing_written(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    forge_backup(store / REG, "20261101T100000Z", TAMPERED[case])
    before = listing(tmp_path)
    assert _restore(store, "--latest", "--to", str(tmp_path / "out")) == 3
    err = capsys.readouterr().err
    assert "unsafe member" in err or "unexpected member" in err, err
    assert listing(tmp_path) == before
    assert not Path("/tmp/evil-abs").exists()


def test_tampered_member_after_good_ones_leaves_nothing(odd: Path, tmp_path: Path) -> None:
    """The bad member comes last (after real data was written to the temp dir): still nothing left."""
    store = tmp_path / "store"
    backup_id = _backup(store, odd, "2026-11-01T10:00:00Z")
    archive = store / REG / f"{backup_id}.tar.zst"
    members = read_members(archive)
    members.append((member("dirs/data/zz-su", mode=0o6755), b"x"))
    repack(archive, members)
    before = listing(tmp_path)
    assert _restore(store, "--latest", "--to", str(tmp_path / "out")) == 3
    assert listing(tmp_path) == before


def test_restore_waits_for_a_running_backup(
    odd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    _backup(store, odd, "2026-11-01T10:00:00Z")
    with held_lock(store / REG / ".lock"):
        assert _restore(store, "--latest", "--to", str(tmp_path / "out"), "--lock-timeout", "0") == 3
    assert "holds the lock" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_prune_waits_for_a_running_restore(
    odd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl

    store = tmp_path / "store"
    _backup(store, odd, "2026-11-01T10:00:00Z")
    fd = os.open(store / REG / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # what a restore holds
        code = main(["prune", "--registry", REG, "--store", str(store), "--lock-timeout", "0",
                     "--now", "2030-01-01T00:00:00Z"])  # fmt: skip
        assert code == 3
        # and restores share it
        assert _restore(store, "--latest", "--to", str(tmp_path / "out"), "--lock-timeout", "0") == 0
    finally:
        os.close(fd)


def test_sigkill_mid_restore_leaves_no_complete_looking_target(tmp_path: Path) -> None:
    store = tmp_path / "store"
    big = tmp_path / "big"
    big.mkdir()
    for i in range(40):
        (big / f"f{i:02d}").write_bytes(os.urandom(4 << 20))
    _backup(store, big, "2026-11-01T10:00:00Z")
    target = tmp_path / "out"
    argv = [sys.executable, str(SCRIPT), "restore", "--registry", REG, "--store", str(store), "--latest",
            "--to", str(target)]  # fmt: skip
    proc = subprocess.Popen(argv, env=base_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    temp: list[Path] = []
    while time.monotonic() < deadline and not temp:
        temp = [p for p in tmp_path.iterdir() if p.name.startswith(".backup-registry-tmp-restore-")]
        temp = [p for p in temp if (p / "big").is_dir() and len(list((p / "big").iterdir())) > 2]
        time.sleep(0.005)
    assert temp, "the restore finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not target.exists()  # nothing that looks restored
    assert _restore(store, "--latest", "--to", str(target)) == 0
    assert tree_facts(target / "big") == tree_facts(big)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".backup-registry-tmp-restore-")]


def test_audit_line(
    odd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    backup_id = _backup(store, odd, "2026-11-01T10:00:00Z")
    monkeypatch.setenv("BUILD_USER_ID", "alice")
    capsys.readouterr()
    assert _restore(store, "--latest", "--to", str(tmp_path / "out")) == 0
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    audit = [x for x in lines if x.get("audit") == "restore"]
    assert len(audit) == 1
    assert audit[0]["who"] == "alice" and audit[0]["backup"] == backup_id and audit[0]["result"] == "ok"
    assert audit[0]["to"] == str(tmp_path / "out") and isinstance(audit[0]["seconds"], float)
    # a refusal is audited too
    assert _restore(store, "--latest", "--to", str(tmp_path / "out"), "--force") == 1
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    assert [x["result"] for x in lines if x.get("audit") == "restore"] == ["refused"]
