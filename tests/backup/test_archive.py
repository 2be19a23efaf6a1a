"""The archive backend end to end: output shapes, metadata, content, atomicity, lock, verify."""

from __future__ import annotations

import errno
import io
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zstandard

from provisioner.backup.backends.archive import ArchiveBackend
from provisioner.backup.cli import main
from provisioner.backup.errors import BackupFailed
from provisioner.backup.logs import Progress
from provisioner.backup.store import list_backups, verify_backup
from tests.backup.conftest import SCRIPT, base_env, held_lock, run_script

NOW = "2026-11-22T19:30:00Z"
UTC_Z = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def extract(archive: Path, dest: Path) -> None:
    with archive.open("rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as reader:
        data = reader.read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        tar.extractall(dest, filter="tar")


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_run_json_list_json_and_metadata(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    code, out, err = cli(
        capsys,
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        "--source",
        str(src),
        "--store",
        str(store),
        "--now",
        NOW,
        "--format",
        "json",
    )
    assert code == 0, err
    run = json.loads(out)
    assert list(run) == [
        "registry",
        "id",
        "backend",
        "createdAt",
        "expiresAt",
        "sha256",
        "sizeBytes",
        "pruned",
    ]
    assert run["registry"] == "demo" and run["backend"] == "archive" and run["pruned"] == []
    assert run["id"] == "20261122T193000Z"
    assert run["createdAt"] == NOW and run["expiresAt"] == "2026-11-29T19:30:00Z"
    archive = store / "demo" / "20261122T193000Z.tar.zst"
    assert run["sizeBytes"] == archive.stat().st_size
    import hashlib

    assert run["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    meta = json.loads((store / "demo" / "20261122T193000Z.json").read_text())
    for key in ("registry", "id", "createdAt", "expiresAt", "sha256", "sizeBytes", "sources", "toolVersion"):
        assert key in meta
    assert meta["sha256"] == run["sha256"] and meta["sizeBytes"] == run["sizeBytes"]
    assert meta["sources"] == [{"type": "directory", "path": str(src), "member": "dirs/src"}]
    assert entries(store / "demo") == [".lock", "20261122T193000Z.json", "20261122T193000Z.tar.zst"]

    code, out, _ = cli(capsys, "list", "--registry", "demo", "--store", str(store), "--format", "json")
    assert code == 0
    listed = json.loads(out)
    assert listed == [{k: run[k] for k in ("id", "createdAt", "expiresAt", "sha256", "sizeBytes")}]
    assert all(UTC_Z.fullmatch(x) for x in (listed[0]["createdAt"], listed[0]["expiresAt"]))


def test_archive_restores_the_source(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    code, out, _ = cli(
        capsys,
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "200",
        "--source",
        str(src),
        "--store",
        str(store),
        "--format",
        "json",
    )
    assert code == 0
    extract(store / "demo" / f"{json.loads(out)['id']}.tar.zst", tmp_path / "restored")
    got = tmp_path / "restored" / "dirs" / "src"
    assert (got / "a.txt").read_text() == "hello registry\n"
    assert (got / "nested" / "b.bin").read_bytes() == (src / "nested" / "b.bin").read_bytes()
    assert os.readlink(got / "link") == "a.txt"
    # The archive is an ordinary tar.zst: the standard tools read it too.
    listing = subprocess.run(
        [shutil.which("tar") or "tar", "--zstd", "-tf", str(next((store / "demo").glob("*.tar.zst")))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "dirs/src/nested/b.bin" in listing


def test_two_sources_same_name_and_ids_within_one_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "one" / "data", tmp_path / "two" / "data"
    for d in (a, b):
        d.mkdir(parents=True)
        (d / "f").write_text(str(d))
    store = tmp_path / "store"
    ids = []
    for _ in range(3):
        code, out, _ = cli(
            capsys,
            "run",
            "--registry",
            "demo",
            "--expires-in-hours",
            "168",
            "--source",
            str(a),
            "--source",
            str(b),
            "--store",
            str(store),
            "--now",
            NOW,
            "--format",
            "json",
            "--no-prune",
        )
        assert code == 0
        ids.append(json.loads(out)["id"])
    assert ids == ["20261122T193000Z", "20261122T193000Z-01", "20261122T193000Z-02"]
    assert [r.id for r in list_backups(store, "demo")] == list(reversed(ids))  # newest first
    extract(store / "demo" / f"{ids[0]}.tar.zst", tmp_path / "x")
    assert (tmp_path / "x" / "dirs" / "data" / "f").read_text() == str(a)
    assert (tmp_path / "x" / "dirs" / "data-2" / "f").read_text() == str(b)


def test_environment_fallbacks_and_flag_precedence(src: Path, tmp_path: Path) -> None:
    env = base_env(REGISTRY_NAME="from-env", EXPIRES_IN_HOURS="336")
    result = run_script("run", "--source", str(src), "--format", "json", cwd=tmp_path, env=env)
    assert result.code == 0, result.stderr
    out = result.json()
    assert isinstance(out, dict)
    assert out["registry"] == "from-env"
    created = datetime.fromisoformat(out["createdAt"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(out["expiresAt"].replace("Z", "+00:00")) - created == timedelta(hours=336)
    assert (tmp_path / "backups" / "from-env").is_dir()  # default store ./backups
    result = run_script("run", "--registry", "flag-wins", "--source", str(src), cwd=tmp_path, env=env)
    assert result.code == 0
    assert (tmp_path / "backups" / "flag-wins").is_dir()


def test_logs_are_json_lines_with_utc_timestamps(src: Path, tmp_path: Path) -> None:
    result = run_script(
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        "--source",
        str(src),
        "--store",
        str(tmp_path / "s"),
    )
    assert result.code == 0
    lines = result.stderr.splitlines()
    assert lines, "expected log lines"
    for line in lines:  # nothing but JSON lines (no progress display: stderr is not a TTY)
        record = json.loads(line)
        assert re.fullmatch(r"[0-9-]{10}T[0-9:]{8}\.[0-9]{3}Z", record["ts"])
        assert record["level"] in {"info", "warning", "error", "debug"}
    assert any(json.loads(x)["msg"] == "backup written" for x in lines)


def test_progress_only_on_a_tty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    quiet, loud = io.StringIO(), Tty()
    for stream in (quiet, loud):
        progress = Progress("backup x", stream)
        progress.advance(5_000_000)
        progress.finish()
    assert quiet.getvalue() == ""
    assert "backup x: 5 MB read" in loud.getvalue()


def test_lock_bounded_wait(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "store" / "demo"
    folder.mkdir(parents=True)
    with held_lock(folder / ".lock"):
        code, _, err = cli(
            capsys,
            "run",
            "--registry",
            "demo",
            "--expires-in-hours",
            "168",
            "--source",
            str(src),
            "--store",
            str(tmp_path / "store"),
            "--lock-timeout",
            "1",
        )
    assert code == 3
    assert "another backup-registry run holds the lock for registry 'demo'" in err
    assert "gave up after waiting 1 s" in err
    assert entries(folder) == [".lock"]
    code, _, _ = cli(
        capsys,
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        "--source",
        str(src),
        "--store",
        str(tmp_path / "store"),
        "--lock-timeout",
        "1",
    )
    assert code == 0


def test_leftover_temp_files_removed_by_next_run(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "store" / "demo"
    folder.mkdir(parents=True)
    (folder / ".backup-registry-tmp-20261122T193000Z.tar.zst.0123456789ab").write_bytes(b"partial")
    (folder / ".backup-registry-tmp-20261122T193000Z.json.ba9876543210").write_bytes(b"{")
    (folder / "notes.txt").write_text("an operator's file")
    (folder / ".backup-registry-tmp-dir").mkdir()  # our prefix but not a regular file: left alone
    code, _, err = cli(
        capsys,
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        "--source",
        str(src),
        "--store",
        str(tmp_path / "store"),
        "--now",
        NOW,
    )
    assert code == 0, err
    assert entries(folder) == [
        ".backup-registry-tmp-dir",
        ".lock",
        "20261122T193000Z.json",
        "20261122T193000Z.tar.zst",
        "notes.txt",
    ]
    assert "removed leftovers of an interrupted run" in err


def test_verify_detects_corruption(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    for now in ("2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"):
        assert (
            cli(
                capsys,
                "run",
                "--registry",
                "demo",
                "--expires-in-hours",
                "168",
                "--source",
                str(src),
                "--store",
                str(store),
                "--now",
                now,
            )[0]
            == 0
        )
    code, out, _ = cli(capsys, "verify", "--registry", "demo", "--store", str(store))
    assert code == 0 and out.count(" ok") == 2
    archive = store / "demo" / "20261121T100000Z.tar.zst"
    with archive.open("r+b") as fh:  # flip one byte in the middle
        fh.seek(archive.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))
    code, out, err = cli(capsys, "verify", "--registry", "demo", "--store", str(store))
    assert code == 3
    assert "20261121T100000Z  CORRUPT" in out and "20261120T100000Z  ok" in out
    assert "1 backup(s) failed verification: 20261121T100000Z" in err
    assert (
        cli(capsys, "verify", "--registry", "demo", "--store", str(store), "--id", "20261120T100000Z")[0] == 0
    )
    assert (
        cli(capsys, "verify", "--registry", "demo", "--store", str(store), "--id", "20261121T100000Z")[0] == 3
    )
    assert (
        cli(capsys, "verify", "--registry", "demo", "--store", str(store), "--id", "20261122T100000Z")[0] == 3
    )
    records = {r.id: r for r in list_backups(store, "demo")}
    assert verify_backup(records["20261120T100000Z"]) and not verify_backup(records["20261121T100000Z"])
    archive.unlink()  # a missing archive: the pair is incomplete, the metadata alone is not a backup
    assert [r.id for r in list_backups(store, "demo")] == ["20261120T100000Z"]


def test_verify_without_backups_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "verify", "--registry", "demo", "--store", str(tmp_path / "none"))
    assert code == 3 and "no backups" in err
    assert not (tmp_path / "none").exists()


class _CorruptingSink:
    """Writes one wrong byte: the read-back must notice."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.done = False

    def write(self, data: bytes | memoryview) -> int:
        chunk = bytearray(data)
        if not self.done and chunk:
            chunk[0] ^= 0x01
            self.done = True
        os.write(self.fd, chunk)
        return len(chunk)


class _FullDiskSink:
    """Fails with ENOSPC after 64 KiB, like a full file system."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.written = 0

    def write(self, data: bytes | memoryview) -> int:
        if self.written + len(data) > 65536:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written += os.write(self.fd, data)
        return len(data)


def _backend(store: Path, sink: type) -> ArchiveBackend:
    return ArchiveBackend(store=store.resolve(), registry="demo", sink_factory=sink)


def test_verify_after_write_catches_a_bad_write(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(os.urandom(300_000))
    with pytest.raises(BackupFailed, match="verify after write failed"):
        _backend(tmp_path / "store", _CorruptingSink).run(
            hours=168, dirs=[src], databases=[], now=datetime.now(UTC), prune=True
        )
    assert entries(tmp_path / "store" / "demo") == [".lock"]


def test_write_failure_enospc_seam_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(os.urandom(1_000_000))
    with pytest.raises(OSError) as err:
        _backend(tmp_path / "store", _FullDiskSink).run(
            hours=168, dirs=[src], databases=[], now=datetime.now(UTC), prune=True
        )
    assert err.value.errno == errno.ENOSPC
    assert entries(tmp_path / "store" / "demo") == [".lock"]


ENOSPC_HELPER = """
import json, os, subprocess, sys
store, src, small = sys.argv[1:4]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", store], check=True)
def run(source):
    p = subprocess.run([sys.executable, {script!r}, "run", "--registry", "demo", "--expires-in-hours", "168",
                        "--source", source, "--store", store], capture_output=True, text=True)
    return {{"code": p.returncode, "stderr": p.stderr,
             "files": sorted(os.listdir(os.path.join(store, "demo")))}}
print(json.dumps([run(src), run(small)]))
"""


def test_write_failure_enospc_on_a_real_full_filesystem(tmp_path: Path) -> None:
    """A 1 MiB tmpfs in a private mount namespace (unshare; as non-root also a user namespace)."""
    big, small = tmp_path / "big", tmp_path / "small"
    big.mkdir()
    small.mkdir()
    (big / "random.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # incompressible: cannot fit
    (small / "f.txt").write_text("fits\n")
    store = tmp_path / "mnt"
    store.mkdir()
    helper = tmp_path / "enospc_helper.py"
    helper.write_text(ENOSPC_HELPER.format(script=str(SCRIPT)))
    unshare = shutil.which("unshare")
    assert unshare, "util-linux unshare is required"
    ns = ["--mount"] if os.geteuid() == 0 else ["--user", "--map-root-user", "--mount"]
    proc = subprocess.run(
        [unshare, *ns, sys.executable, str(helper), str(store), str(big), str(small)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    full, after = json.loads(proc.stdout)
    assert full["code"] == 3, full["stderr"]
    assert "No space left on device" in full["stderr"]
    assert full["files"] == [".lock"]  # no archive, no metadata, no temp file
    assert after["code"] == 0, after["stderr"]
    assert len([f for f in after["files"] if f.endswith(".tar.zst")]) == 1
    assert not os.listdir(store)  # the tmpfs lived only in the namespace


def test_unreadable_source_means_no_backup(tmp_path: Path) -> None:
    """A file the backup user cannot read fails the run; as root the run is made as `nobody`."""
    base = Path(tempfile.mkdtemp(prefix="backup-registry-perm-"))
    try:
        os.chmod(base, 0o755)
        src = base / "src"
        src.mkdir()
        (src / "ok.txt").write_text("fine")
        secret = src / "secret.txt"
        secret.write_text("no")
        secret.chmod(0)
        store = base / "store"
        store.mkdir()
        argv = [
            sys.executable,
            str(SCRIPT),
            "run",
            "--registry",
            "demo",
            "--expires-in-hours",
            "168",
            "--source",
            str(src),
            "--store",
            str(store),
        ]
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(store, nobody.pw_uid, nobody.pw_gid)
            argv = [
                shutil.which("setpriv") or "setpriv",
                f"--reuid={nobody.pw_uid}",
                f"--regid={nobody.pw_gid}",
                "--clear-groups",
                *argv,
            ]
        proc = subprocess.run(argv, capture_output=True, text=True, env=base_env(), timeout=60, check=False)
        assert proc.returncode == 3, proc.stderr
        assert "cannot read source" in proc.stderr and "secret.txt" in proc.stderr
        assert entries(store / "demo") == [".lock"]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_no_verify_flag(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(
        capsys,
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        "--source",
        str(src),
        "--store",
        str(tmp_path / "s"),
        "--no-verify",
    )
    assert code == 0
    assert '"verified": false' in err


def test_store_inside_source_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    code, _, err = cli(
        capsys,
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        "--source",
        str(src),
        "--store",
        str(src / "backups"),
    )
    assert code == 1 and "contains the backup store" in err
    assert not (src / "backups").exists()


def test_files_are_private(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli(
            capsys,
            "run",
            "--registry",
            "demo",
            "--expires-in-hours",
            "168",
            "--source",
            str(src),
            "--store",
            str(tmp_path / "s"),
        )[0]
        == 0
    )
    for f in (tmp_path / "s" / "demo").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_crash_between_archive_rename_and_metadata(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pending marker proves an archive without metadata is ours; without it, it is not touched."""
    folder = tmp_path / "store" / "demo"
    folder.mkdir(parents=True)
    (folder / "20261101T000000Z.tar.zst").write_bytes(b"half-finished backup")
    (folder / ".backup-registry-tmp-pending-20261101T000000Z").write_bytes(b"")
    (folder / "20261102T000000Z.tar.zst").write_bytes(b"someone else's file")  # no marker
    code, _, err = cli(
        capsys,
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        "--source",
        str(src),
        "--store",
        str(tmp_path / "store"),
        "--now",
        NOW,
    )
    assert code == 0, err
    assert entries(folder) == [
        ".lock",
        "20261102T000000Z.tar.zst",
        "20261122T193000Z.json",
        "20261122T193000Z.tar.zst",
    ]


def test_jenkins_style_call_everything_from_the_environment(src: Path, tmp_path: Path) -> None:
    """The job runs plain `backup-registry run`: parameters and agent settings come from the environment."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "x").write_text("x")
    env = base_env(
        REGISTRY_NAME="demo",
        EXPIRES_IN_HOURS="720",
        BACKUP_STORE=str(tmp_path / "agent-store"),
        BACKUP_SOURCES=f"{src}:{other}",
        BACKUP_BACKEND="archive",
    )
    result = run_script("run", "--format", "json", cwd=tmp_path, env=env)
    assert result.code == 0, result.stderr
    meta = json.loads(
        (tmp_path / "agent-store" / "demo" / f"{json.loads(result.stdout)['id']}.json").read_text()
    )
    assert [s["path"] for s in meta["sources"]] == [str(src), str(other)]
    assert not (tmp_path / "backups").exists()
