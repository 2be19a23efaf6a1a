"""PostgreSQL dumps streamed as parts: restorable with pg_restore, concurrent, nothing left on failure."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import zstandard

from provisioner.backup.dumpread import DUMP_PART, iter_dumps, part_name, read_dumps
from provisioner.backup.pgdump import PART_SIZE
from tests.backup.conftest import SCRIPT, Postgres, archive_backup
from tests.helpers.postgres import running_postgres, tool

ODD = "Odd-Name_2"  # upper case and '-': must be quoted in SQL, is passed to pg_dump as is
LONGEST = "d" + "_-" * 31  # 63 characters, the most PostgreSQL keeps


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def odd_databases(postgres: Postgres) -> tuple[str, str]:
    """A database with large objects bigger than a part, and one whose name is as long as allowed."""
    postgres.psql("postgres", f"CREATE DATABASE {_quoted(ODD)}")
    postgres.psql(ODD, "CREATE TABLE images (id int PRIMARY KEY, blob oid NOT NULL, tags jsonb NOT NULL)")
    # Large objects of (pseudo-)random bytes, 3 x 3 MiB: the dump spans several parts.
    postgres.psql(
        ODD,
        "INSERT INTO images SELECT i, lo_from_bytea(0, (SELECT string_agg(decode(md5(random()::text), "
        "'hex'), ''::bytea) FROM generate_series(1, 196608 + 0 * i))), jsonb_build_object('n', i) "
        "FROM generate_series(1, 3) i",
    )
    postgres.psql("postgres", f"CREATE DATABASE {_quoted(LONGEST)}")
    postgres.psql(
        LONGEST,
        "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 2000) g",
    )
    return ODD, LONGEST


def _restore(postgres: Postgres, dump: Path, target: str) -> None:
    postgres.psql("postgres", f"DROP DATABASE IF EXISTS {_quoted(target)}")
    postgres.psql("postgres", f"CREATE DATABASE {_quoted(target)}")
    subprocess.run(
        [tool("pg_restore"), "--no-owner", "--exit-on-error", "-d", target, str(dump)],
        env=postgres.env(),
        check=True,
        capture_output=True,
        timeout=120,
    )


def _lo_digests(postgres: Postgres, database: str) -> str:
    sql = "SELECT string_agg(id || ':' || md5(lo_get(blob)), ',' ORDER BY id) FROM images"
    return postgres.psql(database, sql)


def test_dumps_are_parts_that_pg_restore_reads(
    postgres: Postgres, odd_databases: tuple[str, str], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    args = ("--pg-database", ODD, "--pg-database", LONGEST, "--pg-database", "registry_db", "--jobs", "2")
    archive, _ = archive_backup(store, postgres.env(), *args)
    # The tar: every dump's parts in order and together, databases in the order given.
    with (
        archive.open("rb") as fh,
        zstandard.ZstdDecompressor().stream_reader(fh) as raw,
        tarfile.open(fileobj=raw, mode="r|") as tar,
    ):
        members = [(m.name, m.size, m.mode) for m in tar]
    assert members[-1][0] == "manifest.json"  # the backup's manifest ends the archive (drills read it)
    members = members[:-1]
    names = [name for name, _, _ in members]
    order = [DUMP_PART.fullmatch(n).group(1) for n in names]  # type: ignore[union-attr]
    assert list(dict.fromkeys(order)) == [ODD, LONGEST, "registry_db"]
    assert order == sorted(order, key=[ODD, LONGEST, "registry_db"].index)  # each dump's parts together
    odd_parts = [n for n in names if n.startswith(f"postgres/{ODD}.")]
    assert odd_parts == [part_name(ODD, i) for i in range(len(odd_parts))] and len(odd_parts) >= 3
    assert all(size <= PART_SIZE and mode == 0o600 for _, size, mode in members)
    meta = json.loads(archive.with_name(archive.name.replace(".tar.zst", ".json")).read_text())
    by_db = {s["database"]: s for s in meta["sources"]}
    assert by_db[ODD]["parts"] == str(len(odd_parts)) and by_db[ODD]["member"] == f"postgres/{ODD}.dump"
    assert int(by_db[ODD]["bytes"]) > 9 * 1024 * 1024
    # Each dump, put back together, is what pg_restore reads: the large objects and rows come back.
    dumps: dict[str, Path] = {}
    for database, data in read_dumps(archive):
        dumps[database] = tmp_path / f"{database}.dump"
        dumps[database].write_bytes(data.read())
    assert list(dumps) == [ODD, LONGEST, "registry_db"]
    assert int(by_db[ODD]["bytes"]) == dumps[ODD].stat().st_size
    listing = subprocess.run(
        [tool("pg_restore"), "--list", str(dumps[ODD])], capture_output=True, check=True, text=True
    ).stdout
    assert "BLOB" in listing and "TABLE DATA public images" in listing
    _restore(postgres, dumps[ODD], "restored_odd")
    assert _lo_digests(postgres, "restored_odd") == _lo_digests(postgres, ODD)
    _restore(postgres, dumps[LONGEST], "restored_long")
    assert postgres.psql("restored_long", "SELECT count(*), max(v) FROM t") == postgres.psql(
        LONGEST, "SELECT count(*), max(v) FROM t"
    )
    _restore(postgres, dumps["registry_db"], "restored_reg")
    assert postgres.psql("restored_reg", "SELECT count(*) FROM artifacts") == "500"


def test_old_single_member_dumps_still_read() -> None:
    """Archives written before the parts layout hold one ``postgres/<db>.dump`` member each."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (
            ("postgres/old_db.dump", b"PGDMP old"),
            (part_name("new_db", 0), b"PGDMP "),
            (part_name("new_db", 1), b"new"),
            ("dirs/src/a.txt", b"file"),
            (part_name("x", 0), b"PGDMP x"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    seen = [(db, data.read()) for db, data in iter_dumps(buffer)]
    assert seen == [("old_db", b"PGDMP old"), ("new_db", b"PGDMP new"), ("x", b"PGDMP x")]


def test_parts_out_of_order_are_refused() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in (part_name("db", 0), part_name("db", 2)):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    buffer.seek(0)
    with pytest.raises(ValueError, match="part 000002, expected 1"):
        for _, data in iter_dumps(buffer):
            data.read()


def test_server_stopped_mid_dump_leaves_nothing(tmp_path: Path) -> None:
    """The server goes away while pg_dump streams: exit 3, no archive, no temp file, no spool."""
    with running_postgres() as pg:
        pg.psql("postgres", "CREATE DATABASE big")
        pg.psql(
            "big",
            "CREATE TABLE t AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS v "
            "FROM generate_series(1, 1500000) g",
            timeout=300,
        )
        store = tmp_path / "store"
        folder = store / "reg-pg"
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "run", "--registry", "reg-pg", "--expires-in-hours", "168",
             "--store", str(store), "--pg-database", "big", "--pg-database", "postgres", "--jobs", "2"],
            env=pg.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        # Wait until the dump is streaming into the archive (its temp file holds compressed parts).
        while time.monotonic() < deadline and proc.poll() is None:
            temps = [p for p in folder.glob(".backup-registry-tmp-*.tar.zst.*")] if folder.exists() else []
            if any(p.stat().st_size > 256 * 1024 for p in temps):
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the backup finished before the server could be stopped"
        pg.server.send_signal(signal.SIGQUIT)  # immediate shutdown: connections are cut
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr
    # Both dumps die with the server; the run names the first to fail (each pg_dump starts after its
    # snapshot is exported, so under load the small one may still be starting when the server stops).
    assert re.search(rb"pg_dump of database '(big|postgres)' failed", stderr), stderr[-500:]
    assert stdout == b""
    assert sorted(p.name for p in folder.iterdir()) == [".lock"]
