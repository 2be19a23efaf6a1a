"""The dump scheduler and part stream without PostgreSQL: a fake pg_dump with a plan per database.

The fake writes a deterministic byte stream per database (size, pace and exit status from the
plan in its environment) and logs when it starts and ends, so the tests can check the bytes that
come out, the order, the spooling of dumps that are not being written yet, at most ``jobs``
processes at a time, the deadline, and that nothing is left running.
"""

from __future__ import annotations

import json
import os
import random
import stat
import sys
import time
from pathlib import Path

import pytest

from provisioner.backup.errors import BackupFailed
from provisioner.backup.pgdump import PART_SIZE, PgDumpSource, running_dumps
from provisioner.backup.procs import Tool

FAKE = """#!{python}
import json, os, random, sys, time
db = next(a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--dbname="))
plan = json.loads(os.environ["FAKE_PLAN"])[db]
log = os.environ["FAKE_LOG"]
def note(what):
    with open(log, "a") as fh:
        fh.write(f"{{what}} {{db}} {{time.monotonic()}}\\n")
note("start")
data = random.Random(db).randbytes(plan["size"])
step = 256 * 1024
for i in range(0, len(data), step):
    os.write(1, data[i:i + step])
    time.sleep(plan.get("pace", 0))
if plan.get("hang"):
    time.sleep(3600)
note("end")
sys.stderr.write(plan.get("stderr", ""))
raise SystemExit(plan.get("exit", 0))
"""


def expected(db: str, size: int) -> bytes:
    return random.Random(db).randbytes(size)


@pytest.fixture
def fake(tmp_path: Path) -> Tool:
    exe = tmp_path / "pg_dump"
    exe.write_text(FAKE.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return Tool("pg_dump", str(exe))


def sources(fake: Tool, tmp_path: Path, plan: dict[str, dict[str, object]]) -> list[PgDumpSource]:
    env = {"FAKE_PLAN": json.dumps(plan), "FAKE_LOG": str(tmp_path / "log"), "PATH": "/usr/bin:/bin"}
    return [PgDumpSource(db, fake, env) for db in plan]


def most_at_once(log: Path) -> int:
    events = sorted(
        (float(t), 1 if what == "start" else -1)
        for what, _, t in (line.split() for line in log.read_text().splitlines())
    )
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def collect(
    dumps_sources: list[PgDumpSource],
    jobs: int,
    spool: Path,
    delay: float = 0,
    spooled: dict[str, int] | None = None,
) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    scratch = memoryview(bytearray(PART_SIZE))
    with running_dumps(dumps_sources, jobs, spool) as dumps:
        for dump in dumps:
            chunks = []
            for part in dump.parts(scratch):
                assert 0 < len(part) <= PART_SIZE
                chunks.append(bytes(part))
                time.sleep(delay)  # a slow writer: the dumps after this one must spool meanwhile
            dump.check()
            out[dump.source.database] = b"".join(chunks)
            if spooled is not None:
                spooled[dump.source.database] = dump.spooled
    return out


def test_bytes_order_and_at_most_jobs_at_once(fake: Tool, tmp_path: Path) -> None:
    plan: dict[str, dict[str, object]] = {
        "first": {"size": 3 * PART_SIZE + 12345, "pace": 0.005},
        "second": {"size": PART_SIZE},  # exactly one part
        "third": {"size": 1},
        "fourth": {"size": 2 * PART_SIZE - 1},
        "empty": {"size": 0},
    }
    spool = tmp_path / "spool"
    spool.mkdir()
    spooled: dict[str, int] = {}
    out = collect(sources(fake, tmp_path, plan), jobs=2, spool=spool, delay=0.01, spooled=spooled)
    assert list(out) == list(plan)
    assert spooled["first"] == 0 and spooled["second"] > 0  # dumped while "first" was being written
    for db, step in plan.items():
        assert out[db] == expected(db, int(step["size"])), db  # type: ignore[call-overload]
    assert most_at_once(tmp_path / "log") == 2
    assert os.listdir(spool) == []  # spools are anonymous (O_TMPFILE)


def test_one_job_runs_the_dumps_one_after_another(fake: Tool, tmp_path: Path) -> None:
    plan: dict[str, dict[str, object]] = {db: {"size": 300_000, "pace": 0.01} for db in ("a", "b", "c")}
    out = collect(sources(fake, tmp_path, plan), jobs=1, spool=tmp_path)
    assert out == {db: expected(db, 300_000) for db in plan}
    assert most_at_once(tmp_path / "log") == 1


def test_a_failing_dump_fails_with_its_stderr_and_stops_the_others(fake: Tool, tmp_path: Path) -> None:
    plan: dict[str, dict[str, object]] = {
        "good": {"size": 100_000},
        "bad": {"size": 50_000, "exit": 1, "stderr": "pg_dump: error: connection lost\n"},
        "slow": {"size": 10_000, "hang": True},
    }
    started = time.monotonic()
    with pytest.raises(BackupFailed, match=r"'bad' failed \(exit 1\): pg_dump: error: connection lost"):
        collect(sources(fake, tmp_path, plan), jobs=3, spool=tmp_path)
    assert time.monotonic() - started < 30  # the hanging one was killed, not waited for
    assert "end slow" not in (tmp_path / "log").read_text()


def test_a_later_dump_failing_stops_the_one_being_written(fake: Tool, tmp_path: Path) -> None:
    """The writer is still on "first" (which would hang) when "second" fails: the run fails at once, naming
    "second", not the kill of "first" that this causes."""
    plan: dict[str, dict[str, object]] = {
        "first": {"size": 3 * PART_SIZE, "hang": True},
        "second": {"size": 1000, "exit": 2, "stderr": "pg_dump: error: permission denied\n"},
        "third": {"size": 1000},
    }
    started = time.monotonic()
    with pytest.raises(BackupFailed, match=r"'second' failed \(exit 2\): pg_dump: error: permission denied"):
        collect(sources(fake, tmp_path, plan), jobs=2, spool=tmp_path)
    assert time.monotonic() - started < 30
    assert "start third" not in (tmp_path / "log").read_text()  # nothing new starts after a failure


def test_the_deadline_kills_a_hanging_dump(fake: Tool, tmp_path: Path) -> None:
    plan: dict[str, dict[str, object]] = {"stuck": {"size": 1000, "hang": True}}
    scratch = memoryview(bytearray(PART_SIZE))
    with (
        pytest.raises(BackupFailed, match="did not finish within 1 s"),
        running_dumps(sources(fake, tmp_path, plan), 1, tmp_path, timeout=1.0) as dumps,
    ):
        for dump in dumps:
            for _ in dump.parts(scratch):
                pass
            dump.check()


def test_a_missing_pg_dump_is_a_backup_failure(tmp_path: Path) -> None:
    tool = Tool("pg_dump", str(tmp_path / "no-such-pg_dump"))
    with pytest.raises(BackupFailed, match="cannot start pg_dump"):
        collect([PgDumpSource("db", tool, {})], jobs=1, spool=tmp_path)
