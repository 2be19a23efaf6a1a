"""A throwaway PostgreSQL server for the backup tests and bench/bench_pg.py.

The server runs from /usr/lib/postgresql/*/bin on a unix socket in a private temp dir (no TCP).
initdb refuses to run as root, so when run as root (CI on a fresh Debian machine) the server runs
as the always-present ``nobody`` user, started through ``setpriv --reuid --regid --clear-groups``
(util-linux, essential on Debian): argv lists, no shell, no user to create and nothing left on the
machine. Password auth (scram-sha-256) is on, so backups reach it the way production does:
PGHOST + PGUSER + PGPASSFILE.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Postgres", "pg_bin", "running_postgres", "tool"]


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} must be installed (./dev installs it)"
    return found


def pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    assert candidates, "PostgreSQL server binaries must be installed (Debian package postgresql)"
    return Path(candidates[-1]).parent


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    nobody = pwd.getpwnam("nobody")
    return [tool("setpriv"), f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups", *argv]


@dataclass(frozen=True)
class Postgres:
    host: str  # the socket directory
    port: int
    user: str
    password: str
    passfile: Path
    server: subprocess.Popen[bytes]

    def env(self, **extra: str) -> dict[str, str]:
        values = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C.UTF-8",
            "HOME": os.environ.get("HOME", "/"),
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSFILE": str(self.passfile),
        }
        values.update(extra)
        return values

    def psql(self, database: str, sql: str, timeout: float = 60) -> str:
        proc = subprocess.run(
            [tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return proc.stdout.strip()

    def ready(self) -> bool:
        probe = [tool("pg_isready"), "-q", "-h", self.host, "-p", str(self.port)]
        return subprocess.run(probe, env=self.env(), check=False).returncode == 0


def _wait_ready(pg: Postgres, deadline: float) -> None:
    while not pg.ready():
        if pg.server.poll() is not None or time.monotonic() > deadline:
            err = pg.server.stderr.read() if pg.server.stderr and pg.server.poll() is not None else b""
            raise RuntimeError(f"postgres did not start: {err!r}")
        time.sleep(0.1)


@contextlib.contextmanager
def running_postgres(settings: Sequence[str] = ("fsync=off",)) -> Iterator[Postgres]:
    """Start a fresh server (``-c`` settings as given), yield it, stop it and remove its files."""
    bindir = pg_bin()
    base = Path(tempfile.mkdtemp(prefix="backup-registry-pg-"))
    data, sock = base / "data", base / "sock"
    password = secrets.token_urlsafe(18)
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    sock.mkdir()
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for path in (base, sock, pwfile):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
    os.chmod(base, 0o700)
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            _as_server_user(
                [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
                 f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
            ),
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
            capture_output=True,
            check=True,
            timeout=120,
        )  # fmt: skip
        passfile = base / "pgpass"
        passfile.write_text(f"*:*:*:postgres:{password}\n")
        os.chmod(passfile, 0o600)
        port = 20000 + secrets.randbelow(20000)
        extra = [arg for setting in settings for arg in ("-c", setting)]
        server = subprocess.Popen(
            _as_server_user(
                [str(bindir / "postgres"), "-D", str(data), "-k", str(sock), "-p", str(port),
                 "-c", "listen_addresses=", *extra]
            ),
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        pg = Postgres(str(sock), port, "postgres", password, passfile, server)
        _wait_ready(pg, time.monotonic() + 60)
        yield pg
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)  # fast shutdown
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            if server.stderr:
                server.stderr.close()
        shutil.rmtree(base, ignore_errors=True)
