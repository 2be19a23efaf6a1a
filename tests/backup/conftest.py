"""Fixtures for the backup-registry tests: CLI runners, a real PostgreSQL, a restic repository.

PostgreSQL: the session starts a throwaway server from /usr/lib/postgresql/*/bin on a unix socket
in a private temp dir (no TCP). initdb refuses to run as root, so when the tests run as root (CI on
a fresh Debian machine) the server runs as the always-present ``nobody`` user, started through
``setpriv --reuid --regid --clear-groups`` (util-linux, essential on Debian): argv lists, no shell,
no user to create and nothing left on the machine. Password auth (scram-sha-256) is on, so the
backups reach it the way production does: PGHOST + PGUSER + PGPASSFILE.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "backup-registry"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def logs(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]

    def json(self) -> object:
        return json.loads(self.stdout)


def base_env(**extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/"),
    }
    env.update(extra)
    return env


def run_script(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> Result:
    """Run scripts/backup-registry in a child process, exactly as Jenkins would from a checkout."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env if env is not None else base_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A small source tree: text, binary, a nested dir, a symlink."""
    root = tmp_path / "src"
    (root / "nested").mkdir(parents=True)
    (root / "a.txt").write_text("hello registry\n")
    (root / "nested" / "b.bin").write_bytes(os.urandom(200_000))
    (root / "link").symlink_to("a.txt")
    return root


# -- PostgreSQL -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    host: str  # the socket directory
    port: int
    user: str
    password: str
    passfile: Path

    def env(self, **extra: str) -> dict[str, str]:
        values = {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user}
        values["PGPASSFILE"] = str(self.passfile)
        values.update(extra)
        return base_env(**values)

    def psql(self, database: str, sql: str) -> str:
        proc = subprocess.run(
            [_tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return proc.stdout.strip()


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} must be installed (Debian package postgresql / postgresql-client)"
    return found


def _pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    assert candidates, "PostgreSQL server binaries must be installed (Debian package postgresql)"
    return Path(candidates[-1]).parent


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    nobody = pwd.getpwnam("nobody")
    return [_tool("setpriv"), f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups", *argv]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bindir = _pg_bin()
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
    server = subprocess.Popen(
        _as_server_user(
            [str(bindir / "postgres"), "-D", str(data), "-k", str(sock), "-p", str(port),
             "-c", "listen_addresses=", "-c", "fsync=off"]
        ),
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    pg = Postgres(host=str(sock), port=port, user="postgres", password=password, passfile=passfile)
    try:
        deadline = time.monotonic() + 60
        while True:
            ready = subprocess.run(
                [_tool("pg_isready"), "-q", "-h", str(sock), "-p", str(port)], env=pg.env(), check=False
            )
            if ready.returncode == 0:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"postgres did not start: {server.stderr.read() if server.stderr else ''!r}"
                )
            time.sleep(0.1)
        pg.psql("postgres", "CREATE DATABASE registry_db")
        pg.psql(
            "registry_db",
            "CREATE TABLE artifacts (id serial PRIMARY KEY, name text NOT NULL, digest text NOT NULL);"
            "INSERT INTO artifacts (name, digest) "
            "SELECT 'image-' || g, md5(g::text) FROM generate_series(1, 500) g;",
        )
        yield pg
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr:
            server.stderr.close()
        shutil.rmtree(base, ignore_errors=True)


# -- restic ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResticRepo:
    path: Path
    password_file: Path
    cache: Path

    def env(self, **extra: str) -> dict[str, str]:
        return base_env(
            RESTIC_PASSWORD_FILE=str(self.password_file), RESTIC_CACHE_DIR=str(self.cache), **extra
        )

    def restic(self, *args: str) -> str:
        proc = subprocess.run(
            [_tool("restic"), "-r", str(self.path), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return proc.stdout


@pytest.fixture(scope="session")
def _restic_template(tmp_path_factory: pytest.TempPathFactory) -> ResticRepo:
    """One `restic init` per session (its key derivation is deliberately slow); tests get copies."""
    base = tmp_path_factory.mktemp("restic-template")
    secret = base / "restic-password"
    secret.write_text(secrets.token_urlsafe(24) + "\n")
    os.chmod(secret, 0o600)
    repo = ResticRepo(path=base / "restic-repo", password_file=secret, cache=base / "restic-cache")
    repo.restic("init")
    return repo


@pytest.fixture
def restic_repo(_restic_template: ResticRepo, tmp_path: Path) -> ResticRepo:
    secret = tmp_path / "restic-password"
    shutil.copy2(_restic_template.password_file, secret)
    repo = ResticRepo(path=tmp_path / "restic-repo", password_file=secret, cache=tmp_path / "restic-cache")
    shutil.copytree(_restic_template.path, repo.path)
    return repo


@contextlib.contextmanager
def held_lock(path: Path) -> Iterator[None]:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
