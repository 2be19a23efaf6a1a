"""Restores of real PostgreSQL dumps (and restic snapshots): new databases, refusals, --force."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from tests.backup.conftest import Postgres, ResticRepo, Result, run_script
from tests.backup.restore_helpers import listing, odd_tree, tree_facts

SCHEMA = """
CREATE TABLE artifacts (id serial PRIMARY KEY, name text NOT NULL, digest text NOT NULL);
INSERT INTO artifacts (name, digest) SELECT 'image-' || g, md5(g::text) FROM generate_series(1, 2000) g;
CREATE TABLE blobs (id int PRIMARY KEY, body bytea NOT NULL);
INSERT INTO blobs SELECT g, decode(repeat(md5(g::text), 40), 'hex') || '\\x00ff00'::bytea
  FROM generate_series(1, 300) g;
CREATE SEQUENCE tickets START 100;
SELECT nextval('tickets') FROM generate_series(1, 7);
CREATE TABLE docs (id int PRIMARY KEY, lo oid NOT NULL);
INSERT INTO docs VALUES (1, lo_from_bytea(0, decode(repeat('deadbeef', 20000), 'hex')));
CREATE SCHEMA other;
CREATE TABLE other.tags (tag text, n int);
INSERT INTO other.tags VALUES ('latest', 1), ('stable', 2), (NULL, NULL);
"""
TABLES = ("artifacts", "blobs", "docs", "other.tags")


def _db(pg: Postgres) -> str:
    name = "reg_" + secrets.token_hex(4)
    pg.psql("postgres", f"CREATE DATABASE {name}")
    pg.psql(name, SCHEMA)
    return name


def _facts(pg: Postgres, db: str) -> dict[str, str]:
    out = {
        t: pg.psql(db, f"SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM {t} x") for t in TABLES
    }
    out["counts"] = pg.psql(db, "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in TABLES))
    out["lo"] = pg.psql(db, "SELECT md5(lo_get(lo)) FROM docs")
    out["seq"] = pg.psql(db, "SELECT last_value, is_called FROM tickets")
    return out


def _run(pg: Postgres, *args: str, env: dict[str, str] | None = None) -> Result:
    return run_script(*args, env=env if env is not None else pg.env(), timeout=300)


def _backup(pg: Postgres, store: Path, db: str, *extra: str) -> str:
    result = _run(pg, "run", "--registry", "reg-pg", "--expires-in-hours", "168", "--store", str(store),
                  "--pg-database", db, "--format", "json", *extra)  # fmt: skip
    assert result.code == 0, result.stderr
    out = result.json()
    assert isinstance(out, dict)
    return str(out["id"])


def test_database_round_trip_into_new_database(postgres: Postgres, tmp_path: Path) -> None:
    db = _db(postgres)
    store = tmp_path / "store"
    src = odd_tree(tmp_path / "data")
    backup_id = _backup(postgres, store, db, "--source", str(src))
    result = _run(postgres, "restore", "--registry", "reg-pg", "--store", str(store), "--latest",
                  "--to", str(tmp_path / "out"), "--format", "json")  # fmt: skip
    assert result.code == 0, result.stderr
    out = result.json()
    assert isinstance(out, dict)
    target = f"{db}_restored_{backup_id.lower()}"
    assert out["databases"][0]["target"] == target
    assert _facts(postgres, target) == _facts(postgres, db)
    assert tree_facts(tmp_path / "out" / "data") == tree_facts(src)
    assert postgres.password not in result.stdout + result.stderr
    # the restore was analyzed
    assert postgres.psql(target, "SELECT count(*) > 0 FROM pg_stats WHERE tablename = 'artifacts'") == "t"


def test_existing_database_refused_then_forced_into_place(postgres: Postgres, tmp_path: Path) -> None:
    db = _db(postgres)
    store = tmp_path / "store"
    _backup(postgres, store, db)
    dest = "dest_" + secrets.token_hex(4)
    postgres.psql("postgres", f"CREATE DATABASE {dest}")
    postgres.psql(dest, "CREATE TABLE mine (x int); INSERT INTO mine VALUES (42)")
    dbs_before = postgres.psql(
        "postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"
    )
    args = ("restore", "--registry", "reg-pg", "--store", str(store), "--latest",
            "--pg-database-map", f"{db}={dest}")  # fmt: skip
    refused = _run(postgres, *args)
    assert refused.code == 1, refused.stderr
    assert f"database {dest!r} exists" in refused.stderr
    assert (
        postgres.psql("postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
        == dbs_before
    )
    forced = _run(postgres, *args, "--force", "--format", "json")
    assert forced.code == 0, forced.stderr
    out = forced.json()
    assert isinstance(out, dict)
    replaced = out["databases"][0]["replaces"]
    assert _facts(postgres, dest) == _facts(postgres, db)
    assert postgres.psql(replaced, "SELECT x FROM mine") == "42"  # kept, never dropped


def test_dry_run_lists_dumps_and_writes_nothing(postgres: Postgres, tmp_path: Path) -> None:
    db = _db(postgres)
    store = tmp_path / "store"
    _backup(postgres, store, db)
    dbs_before = postgres.psql(
        "postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"
    )
    before = listing(tmp_path)
    result = _run(postgres, "restore", "--registry", "reg-pg", "--store", str(store), "--latest", "--dry-run",
                  "--format", "json")  # fmt: skip
    assert result.code == 0, result.stderr
    out = result.json()
    assert isinstance(out, dict) and out["dryRun"] is True
    assert out["databases"][0]["database"] == db and out["databases"][0]["tocEntries"] > 5
    assert listing(tmp_path) == before
    assert (
        postgres.psql("postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
        == dbs_before
    )


def test_dump_that_fails_to_restore_leaves_no_database(postgres: Postgres, tmp_path: Path) -> None:
    """A dump whose table of contents reads but whose data is cut: refused, temp database dropped."""
    from tests.backup.restore_helpers import read_members, repack

    db = _db(postgres)
    store = tmp_path / "store"
    backup_id = _backup(postgres, store, db)
    archive = store / "reg-pg" / f"{backup_id}.tar.zst"
    members = read_members(archive)
    info, data = members[0]
    members[0] = (info, data[: len(data) * 2 // 3])
    repack(archive, members)
    dbs_before = postgres.psql(
        "postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"
    )
    result = _run(postgres, "restore", "--registry", "reg-pg", "--store", str(store), "--latest")
    assert result.code == 3, result.stderr
    assert (
        postgres.psql("postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
        == dbs_before
    )


def test_restic_round_trip(postgres: Postgres, restic_repo: ResticRepo, tmp_path: Path) -> None:
    db = _db(postgres)
    src = odd_tree(tmp_path / "data")
    env = postgres.env(**restic_repo.env())
    common = ("--registry", "reg-r", "--backend", "restic", "--restic-repo", str(restic_repo.path))
    made = _run(postgres, "run", *common, "--expires-in-hours", "168", "--source", str(src),
                "--pg-database", db, "--format", "json", env=env)  # fmt: skip
    assert made.code == 0, made.stderr
    backup_id = json.loads(made.stdout)["id"]
    result = _run(postgres, "restore", *common, "--id", backup_id, "--to", str(tmp_path / "out"),
                  "--pg-database-map", f"{db}={db}_r", env=env)  # fmt: skip
    assert result.code == 0, result.stderr
    assert tree_facts(tmp_path / "out" / "data") == tree_facts(src)
    assert _facts(postgres, f"{db}_r") == _facts(postgres, db)


def test_restic_corrupt_snapshot_refused(postgres: Postgres, restic_repo: ResticRepo, tmp_path: Path) -> None:
    """A snapshot whose stream no longer matches its recorded SHA-256 is refused; nothing is written."""
    src = odd_tree(tmp_path / "data")
    env = restic_repo.env()
    common = ("--registry", "reg-r", "--backend", "restic", "--restic-repo", str(restic_repo.path))
    made = _run(postgres, "run", *common, "--expires-in-hours", "168", "--source", str(src), env=env)
    assert made.code == 0, made.stderr
    snap = json.loads(restic_repo.restic("snapshots", "--json"))[0]
    recorded = next(t for t in snap["tags"] if t.startswith("sha256="))
    restic_repo.restic("tag", "--remove", recorded, "--add", "sha256=" + "0" * 64, snap["id"])
    result = _run(postgres, "restore", *common, "--latest", "--to", str(tmp_path / "out"), env=env)
    assert result.code == 3, result.stderr
    assert "passes verification" in result.stderr
    assert not (tmp_path / "out").exists()


def test_dump_stored_as_parts_or_one_member_restores(postgres: Postgres, tmp_path: Path) -> None:
    """Dumps are streamed as consecutive parts; older archives hold one member: both restore."""
    import tarfile

    from tests.backup.restore_helpers import read_members, repack

    db = _db(postgres)
    store = tmp_path / "store"
    backup_id = _backup(postgres, store, db, "--source", str(odd_tree(tmp_path / "data")))
    archive = store / "reg-pg" / f"{backup_id}.tar.zst"
    members = read_members(archive)
    parts = [(i, d) for i, d in members if i.name.startswith(f"postgres/{db}.dump.part-")]
    rest = [(i, d) for i, d in members if not i.name.startswith(f"postgres/{db}.dump")]
    assert parts and parts[0][0].name.endswith(".part-000000")
    args = ("restore", "--registry", "reg-pg", "--store", str(store), "--latest")
    result = _run(postgres, *args, "--to", str(tmp_path / "out"), "--pg-database-map", f"{db}={db}_parts")
    assert result.code == 0, result.stderr
    assert _facts(postgres, f"{db}_parts") == _facts(postgres, db)
    assert tree_facts(tmp_path / "out" / "data") == tree_facts(tmp_path / "data")
    # the same dump as one member (the layout before parts)
    dump = b"".join(d for _, d in parts)
    single = tarfile.TarInfo(f"postgres/{db}.dump")
    single.mode, single.mtime = 0o600, parts[0][0].mtime
    repack(archive, [(single, dump), *rest])
    result = _run(postgres, *args, "--pg-database-map", f"{db}={db}_single", "--to", str(tmp_path / "out2"))
    assert result.code == 0, result.stderr
    assert _facts(postgres, f"{db}_single") == _facts(postgres, db)
    # three parts out of order are refused
    cut = [0, len(dump) // 3, len(dump) // 2, len(dump)]
    split = []
    for index in range(3):
        part = tarfile.TarInfo(f"postgres/{db}.dump.part-{index:06d}")
        part.mode, part.mtime = 0o600, single.mtime
        split.append((part, dump[cut[index] : cut[index + 1]]))
    repack(archive, [split[0], split[2], split[1], *rest])
    bad = _run(postgres, *args, "--pg-database-map", f"{db}={db}_bad", "--to", str(tmp_path / "out3"))
    assert bad.code == 3
    assert "part 2, expected 1" in bad.stderr
