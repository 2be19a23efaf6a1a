"""`backup-registry drill`: a good backup passes; damage the checksum cannot see is caught; scratch is
always removed (also on SIGTERM); the result lands in the backup's metadata and in `list`."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.backup.conftest import SCRIPT, Postgres, ResticRepo, Result, run_script
from tests.backup.restore_helpers import odd_tree, read_members, repack

REG = "reg-d"


def _db(pg: Postgres) -> str:
    name = "drill_" + secrets.token_hex(4)
    pg.psql("postgres", f"CREATE DATABASE {name}")
    pg.psql(
        name,
        "CREATE TABLE items (id int PRIMARY KEY, body bytea);"
        "INSERT INTO items SELECT g, decode(md5(g::text), 'hex') FROM generate_series(1, 1000) g;"
        "CREATE TABLE notes (n text); INSERT INTO notes VALUES ('a'), ('b');",
    )
    return name


def _env(pg: Postgres, tmp: Path) -> dict[str, str]:
    scratch = tmp / "scratch-tmp"
    scratch.mkdir(exist_ok=True)
    return pg.env(TMPDIR=str(scratch))


def _run(env: dict[str, str], *args: str) -> Result:
    return run_script(*args, env=env, timeout=300)


def _backup(env: dict[str, str], store: Path, *sources: str) -> str:
    made = _run(env, "run", "--registry", REG, "--expires-in-hours", "168", "--store", str(store),
                "--format", "json", *sources)  # fmt: skip
    assert made.code == 0, made.stderr
    return str(json.loads(made.stdout)["id"])


def _scratch_dbs(pg: Postgres) -> str:
    return pg.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'brdrill%' "
                   "OR datname LIKE 'backup_registry_tmp%'")  # fmt: skip


def test_good_backup_drills_ok_and_is_recorded(postgres: Postgres, tmp_path: Path) -> None:
    env = _env(postgres, tmp_path)
    store = tmp_path / "store"
    db = _db(postgres)
    backup_id = _backup(env, store, "--source", str(odd_tree(tmp_path / "data")), "--pg-database", db)
    manifest = json.loads(next(d for i, d in read_members(store / REG / f"{backup_id}.tar.zst")
                               if i.name == "manifest.json"))  # fmt: skip
    assert manifest["databases"][db]["tables"] == {"public.items": 1000, "public.notes": 2}
    result = _run(env, "drill", "--registry", REG, "--store", str(store), "--format", "json")
    assert result.code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["result"] == "ok" and out["id"] == backup_id
    assert out["filesChecked"] >= 6 and out["tablesChecked"] == 2
    meta = json.loads((store / REG / f"{backup_id}.json").read_text())
    assert meta["lastDrill"]["result"] == "ok" and meta["lastSuccessfulDrill"] == meta["lastDrill"]
    assert os.listdir(tmp_path / "scratch-tmp") == []
    assert _scratch_dbs(postgres) == "0"
    listed = _run(env, "list", "--registry", REG, "--store", str(store))
    assert f"drilled ok {meta['lastDrill']['at']}" in listed.stdout
    listed_json = json.loads(
        _run(env, "list", "--registry", REG, "--store", str(store), "--format", "json").stdout
    )
    assert listed_json[0]["lastSuccessfulDrill"]["result"] == "ok"


def test_damage_behind_a_matching_checksum_is_caught(tmp_path: Path, postgres: Postgres) -> None:
    """Data changed after the backup, metadata made to match: verify passes, the drill fails."""
    env = _env(postgres, tmp_path)
    store = tmp_path / "store"
    backup_id = _backup(env, store, "--source", str(odd_tree(tmp_path / "data")))
    archive = store / REG / f"{backup_id}.tar.zst"
    members = read_members(archive)
    index = next(i for i, (info, _) in enumerate(members) if info.name == "dirs/data/a.txt")
    info, data = members[index]
    members[index] = (info, data.replace(b"hello", b"jello"))
    repack(archive, members)
    assert _run(env, "verify", "--registry", REG, "--store", str(store)).code == 0  # the checksum is fooled
    result = _run(env, "drill", "--registry", REG, "--store", str(store))
    assert result.code == 3, result.stderr
    assert "file 'dirs/data/a.txt': content differs from the recorded SHA-256" in result.stdout
    meta = json.loads((store / REG / f"{backup_id}.json").read_text())
    assert meta["lastDrill"]["result"] == "failed" and "lastSuccessfulDrill" not in meta
    assert "LAST DRILL FAILED" in _run(env, "list", "--registry", REG, "--store", str(store)).stdout
    assert os.listdir(tmp_path / "scratch-tmp") == []


def test_dump_with_fewer_rows_than_recorded_is_caught(tmp_path: Path, postgres: Postgres) -> None:
    env = _env(postgres, tmp_path)
    store = tmp_path / "store"
    db = _db(postgres)
    backup_id = _backup(env, store, "--pg-database", db)
    # Replace the dump with one taken after rows were deleted (metadata made to match again).
    postgres.psql(db, "DELETE FROM items WHERE id > 990")
    fewer = subprocess.run(["pg_dump", "--format=custom", f"--dbname={db}"], env=postgres.env(),
                           capture_output=True, check=True, timeout=60).stdout  # fmt: skip
    archive = store / REG / f"{backup_id}.tar.zst"
    members = read_members(archive)
    parts = [i for i, _ in members if i.name.startswith(f"postgres/{db}.dump")]
    assert parts and parts[0].name == f"postgres/{db}.dump.part-000000"
    members = [(parts[0], fewer)] + [(i, d) for i, d in members if i not in parts]
    repack(archive, members)
    result = _run(env, "drill", "--registry", REG, "--store", str(store), "--id", backup_id)
    assert result.code == 3, result.stderr
    assert f"database {db}: table public.items has 990 rows, recorded 1000" in result.stdout
    assert _scratch_dbs(postgres) == "0"


def test_backup_without_manifest_fails_the_drill(tmp_path: Path, postgres: Postgres) -> None:
    env = _env(postgres, tmp_path)
    store = tmp_path / "store"
    backup_id = _backup(env, store, "--source", str(odd_tree(tmp_path / "data")))
    archive = store / REG / f"{backup_id}.tar.zst"
    repack(archive, [(i, d) for i, d in read_members(archive) if i.name != "manifest.json"])
    result = _run(env, "drill", "--registry", REG, "--store", str(store))
    assert result.code == 3
    assert "no manifest" in result.stdout


def test_sigterm_mid_drill_cleans_up(tmp_path: Path, postgres: Postgres) -> None:
    env = _env(postgres, tmp_path)
    store = tmp_path / "store"
    big = tmp_path / "big"
    big.mkdir()
    for i in range(40):
        (big / f"f{i:02d}").write_bytes(os.urandom(4 << 20))
    _backup(env, store, "--source", str(big))
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "drill", "--registry", REG, "--store", str(store)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    scratch = tmp_path / "scratch-tmp"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = [p for p in scratch.rglob("f0*")]
        if len(busy) > 2:
            break
        time.sleep(0.005)
    else:
        raise AssertionError("the drill finished before it could be stopped")
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)  # a second one while cleaning up is ignored
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err  # interrupted (the CLI boundary: ^C and SIGTERM are 130)
    assert os.listdir(scratch) == []


def test_restic_drill_recorded_in_tags(tmp_path: Path, postgres: Postgres, restic_repo: ResticRepo) -> None:
    repo = restic_repo
    env = _env(postgres, tmp_path)
    env.update(repo.env())
    common = ("--registry", REG, "--backend", "restic", "--restic-repo", str(repo.path))
    db = _db(postgres)
    data = odd_tree(tmp_path / "data")
    made = _run(env, "run", *common, "--expires-in-hours", "168", "--source", str(data), "--pg-database", db)
    assert made.code == 0, made.stderr
    for _ in range(2):
        result = _run(env, "drill", *common, "--format", "json")
        assert result.code == 0, result.stderr
        assert json.loads(result.stdout)["tablesChecked"] == 2
    tags = json.loads(repo.restic("snapshots", "--json"))[0]["tags"]
    assert len([t for t in tags if t.startswith("last-drill=")]) == 1
    assert len([t for t in tags if t.startswith("last-good-drill=")]) == 1
    listed = json.loads(_run(env, "list", *common, "--format", "json").stdout)
    assert listed[0]["lastSuccessfulDrill"]["result"] == "ok"
    assert _run(env, "verify", *common).code == 0  # the rewritten snapshot still verifies
    assert os.listdir(tmp_path / "scratch-tmp") == []
