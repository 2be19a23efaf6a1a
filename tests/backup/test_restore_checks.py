"""A database restore checks the whole backup before it writes anything (issue 11), also now that the
targets are looked up and psql sessions started while the check pass runs.

"Nothing written" is observed where it would happen: every process the restore starts is recorded
(argv, and what it was sent on stdin through ``communicate``); a refused restore must never have sent
``CREATE DATABASE`` nor started a ``pg_restore`` other than ``--list``, must leave the server's
databases as they were, and must leave no process of its own running.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.backup.cli import main
from provisioner.backup.pgrestore import PgServer
from provisioner.backup.procs import LIBPQ_ENV, child_env, resolve_tool, wait_exited
from tests.backup.conftest import archive_backup
from tests.backup.restore_helpers import rewrite_metadata
from tests.helpers.postgres import Postgres

REG = "reg-pg"


class Spawned:
    """The processes started meanwhile: argv, stdin sent with communicate, and the Popen itself."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.inputs: list[tuple[str, bytes]] = []

    def argvs(self) -> list[list[str]]:
        return [[str(a) for a in p.args] for p in self.procs]  # type: ignore[union-attr]

    def sql(self) -> bytes:
        return b"\n".join(data for _, data in self.inputs)


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spawned]:
    seen = Spawned()
    init, communicate = subprocess.Popen.__init__, subprocess.Popen.communicate

    def record_init(self: subprocess.Popen[bytes], *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        seen.procs.append(self)

    def record_communicate(
        self: subprocess.Popen[bytes], input: bytes | None = None, timeout: float | None = None
    ) -> tuple[Any, Any]:
        if input:
            seen.inputs.append((str(self.args), input))
        return communicate(self, input, timeout)

    monkeypatch.setattr(subprocess.Popen, "__init__", record_init)
    monkeypatch.setattr(subprocess.Popen, "communicate", record_communicate)
    yield seen


def _databases(pg: Postgres) -> str:
    return pg.psql("postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")


def _backup(pg: Postgres, store: Path) -> tuple[str, Path]:
    db = "chk_" + secrets.token_hex(4)
    pg.psql("postgres", f"CREATE DATABASE {db}")
    rows = "INSERT INTO t SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 20000) g"
    pg.psql(db, f"CREATE TABLE t (id int PRIMARY KEY, body text); {rows}")
    archive, _ = archive_backup(store, pg.env(), "--pg-database", db)
    return db, archive


def _flip(archive: Path, offset: int) -> None:
    data = bytearray(archive.read_bytes())
    data[offset] ^= 0x5A
    archive.write_bytes(bytes(data))


def _assert_nothing_written(pg: Postgres, seen: Spawned, before: str) -> None:
    assert b"CREATE DATABASE" not in seen.sql()
    restores = [a for a in seen.argvs() if a[0].endswith("pg_restore") and "--list" not in a]
    assert restores == []
    assert _databases(pg) == before
    assert [p.args for p in seen.procs if p.returncode is None] == []  # none left running


@pytest.mark.parametrize(
    ("damage", "matching_metadata"),
    [
        ("middle", False),  # SHA-256 and the zstd block both wrong
        ("end", False),  # the last bytes: the frame's checksum
        ("end", True),  # the same, with size and SHA-256 made to match: only zstd's checksum sees it
        ("middle", True),  # a damaged block behind a matching SHA-256
    ],
)
def test_damaged_backup_refused_before_anything_is_written(
    postgres: Postgres,
    tmp_path: Path,
    spawned: Spawned,
    damage: str,
    matching_metadata: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db, archive = _backup(postgres, tmp_path / "store")
    size = archive.stat().st_size
    _flip(archive, size // 2 if damage == "middle" else size - 2)
    if matching_metadata:
        rewrite_metadata(archive.parent, archive.name.removesuffix(".tar.zst"))
    before = _databases(postgres)
    spawned.procs.clear()
    code = main(["restore", "--registry", REG, "--store", str(tmp_path / "store"), "--latest",
                 "--pg-database-map", f"{db}={db}_back"], postgres.env())  # fmt: skip
    assert code == 3
    err = capsys.readouterr().err
    assert "passes verification" in err
    if matching_metadata:
        assert "zstd" in err or "Corrupted" in err or "checksum" in err.lower()
    _assert_nothing_written(postgres, spawned, before)


def test_check_refusal_comes_before_an_existing_target(
    postgres: Postgres, tmp_path: Path, spawned: Spawned, capsys: pytest.CaptureFixture[str]
) -> None:
    """The target is looked up while the check pass runs; a backup that fails still says so (exit
    3, as when the two ran one after the other), not that the target exists."""
    db, archive = _backup(postgres, tmp_path / "store")
    backup_id = archive.name.removesuffix(".tar.zst")
    _flip(archive, archive.stat().st_size - 2)
    rewrite_metadata(archive.parent, backup_id)
    before = _databases(postgres)
    spawned.procs.clear()
    code = main(["restore", "--registry", REG, "--store", str(tmp_path / "store"), "--id", backup_id,
                 "--pg-database-map", f"{db}={db}"], postgres.env())  # fmt: skip
    assert code == 3
    err = capsys.readouterr().err
    assert f"backup {backup_id} is refused" in err and "exists" not in err
    _assert_nothing_written(postgres, spawned, before)


def test_refused_target_leaves_no_psql_running(
    postgres: Postgres, tmp_path: Path, spawned: Spawned, capsys: pytest.CaptureFixture[str]
) -> None:
    """A good backup whose target exists: refused (exit 1) after the check pass; the psql started
    ahead for CREATE DATABASE was never sent anything and is gone."""
    db, _ = _backup(postgres, tmp_path / "store")
    before = _databases(postgres)
    spawned.procs.clear()
    code = main(["restore", "--registry", REG, "--store", str(tmp_path / "store"), "--latest",
                 "--pg-database-map", f"{db}={db}"], postgres.env())  # fmt: skip
    assert code == 1
    assert f"database {db!r} exists" in capsys.readouterr().err
    assert any(a[0].endswith("psql") for a in spawned.argvs())
    _assert_nothing_written(postgres, spawned, before)


def _server(pg: Postgres) -> PgServer:
    path = pg.env()["PATH"]
    psql, pg_restore = resolve_tool("psql", path), resolve_tool("pg_restore", path)
    return PgServer(psql, pg_restore, child_env(pg.env(), LIBPQ_ENV))


def test_session_started_ahead_and_lost_meanwhile_is_replaced(postgres: Postgres) -> None:
    """A psql started ahead whose connection ends while it waits (an idle_session_timeout, a
    restart): the script runs in a new session; nothing is lost, nothing runs twice."""
    server = _server(postgres)
    marker = "ahead_" + secrets.token_hex(4)
    server.prestart("postgres")
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'psql' AND state = 'idle'"
    deadline = time.monotonic() + 30
    while postgres.psql("postgres", query) == "0":  # wait until it has logged in
        assert time.monotonic() < deadline
        time.sleep(0.05)
    killed = postgres.psql(
        "postgres",
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'psql' AND state = 'idle' AND pid <> pg_backend_pid()) x",
    )
    assert killed == "1"
    assert server.sql("postgres", f"SELECT '{marker}';").strip() == marker


def test_sessions_started_ahead_and_not_used_are_stopped(postgres: Postgres) -> None:
    server = _server(postgres)
    server.prestart("postgres")
    server.prestart("postgres")  # one per database
    assert len(server._ready) == 1
    session = server._ready["postgres"]
    server.discard_ready()
    assert server._ready == {}
    assert session._proc.returncode is not None


def test_wait_exited_answers_the_exit_code_and_times_out() -> None:
    done = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    assert wait_exited(done, 30) == 3
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        wait_exited(slow, 0.2)
    assert time.monotonic() - started < 5
    slow.kill()
    slow.wait()
