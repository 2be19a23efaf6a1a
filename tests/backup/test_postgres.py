"""Archive backups of a real PostgreSQL database (pg_dump --format=custom, streamed into the tar).

More on the dumps themselves (parts, concurrency, large objects, a server stopped mid-dump):
test_pgdump.py.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import zstandard

from provisioner.backup.dumpread import read_dumps
from tests.backup.conftest import Postgres, archive_backup, run_script


def _members(archive: Path) -> dict[str, bytes]:
    with archive.open("rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as reader:
        data = reader.read()
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member)
            out[member.name] = f.read() if f else b""
    return out


def test_pg_database_and_dir_backed_up_and_restorable(postgres: Postgres, src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    archive, result = archive_backup(
        store, postgres.env(), "--pg-database", "registry_db", "--source", str(src)
    )
    members = _members(archive)
    assert "postgres/registry_db.dump.part-000000" in members
    dump = b"".join(data.read() for _, data in read_dumps(archive))
    assert dump.startswith(b"PGDMP")  # pg_dump custom format
    assert members["dirs/src/a.txt"] == b"hello registry\n"
    # Restore into a fresh database and compare the rows.
    postgres.psql("postgres", "CREATE DATABASE restored")
    dump_file = tmp_path / "restore.dump"
    dump_file.write_bytes(dump)
    subprocess.run(
        ["pg_restore", "--no-owner", "-d", "restored", str(dump_file)],
        env=postgres.env(),
        check=True,
        timeout=60,
    )
    assert postgres.psql("restored", "SELECT count(*), max(name) FROM artifacts") == "500|image-99"
    # The password lives only in PGPASSFILE: never in our output or logs.
    assert postgres.password not in result.stdout + result.stderr
    meta = archive.with_name(archive.name.replace(".tar.zst", ".json")).read_text()
    assert postgres.password not in meta
    assert '"database": "registry_db"' in meta


def test_failing_pg_dump_leaves_nothing(postgres: Postgres, src: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = run_script(
        "run", "--registry", "reg-pg", "--expires-in-hours", "168", "--store", str(store),
        "--source", str(src), "--pg-database", "no_such_db",
        env=postgres.env(),
    )  # fmt: skip
    assert result.code == 3
    assert "pg_dump of database 'no_such_db' failed" in result.stderr
    assert sorted(p.name for p in (store / "reg-pg").iterdir()) == [".lock"]  # no archive, no temp file


def test_wrong_password_fails_without_leaking(postgres: Postgres, src: Path, tmp_path: Path) -> None:
    bad = tmp_path / "badpass"
    bad.write_text("*:*:*:postgres:not-the-password\n")
    bad.chmod(0o600)
    env = postgres.env(PGPASSFILE=str(bad))
    result = run_script(
        "run", "--registry", "reg-pg", "--expires-in-hours", "168", "--store", str(tmp_path / "store"),
        "--pg-database", "registry_db", env=env,
    )  # fmt: skip
    assert result.code == 3
    assert "not-the-password" not in result.stderr + result.stdout
    assert "password authentication failed" in result.stderr
