"""Fixtures for the backup-registry tests: CLI runners, a real PostgreSQL, a restic repository.

PostgreSQL: the session starts one throwaway server (tests/helpers/postgres.py says how: a unix
socket in a private temp dir, password auth, as ``nobody`` when run as root).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.postgres import Postgres, running_postgres, tool

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


def archive_backup(
    store: Path, env: dict[str, str], *args: str, registry: str = "reg-pg"
) -> tuple[Path, Result]:
    """``run`` an archive backup into ``store`` (must succeed); the archive's path and the run."""
    result = run_script(
        "run", "--registry", registry, "--expires-in-hours", "168", "--store", str(store), "--format", "json",
        *args, env=env,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    out = result.json()
    assert isinstance(out, dict)
    return store / registry / f"{out['id']}.tar.zst", result


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


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with running_postgres() as pg:
        pg.psql("postgres", "CREATE DATABASE registry_db")
        pg.psql(
            "registry_db",
            "CREATE TABLE artifacts (id serial PRIMARY KEY, name text NOT NULL, digest text NOT NULL);"
            "INSERT INTO artifacts (name, digest) "
            "SELECT 'image-' || g, md5(g::text) FROM generate_series(1, 500) g;",
        )
        yield pg


# -- restic ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResticRepo:
    path: Path
    password_file: Path
    cache: Path

    def credentials(self) -> dict[str, str]:
        """What restic needs besides the repository: the password file and a cache directory."""
        return {"RESTIC_PASSWORD_FILE": str(self.password_file), "RESTIC_CACHE_DIR": str(self.cache)}

    def env(self, **extra: str) -> dict[str, str]:
        return base_env(**self.credentials(), **extra)

    def restic(self, *args: str) -> str:
        proc = subprocess.run(
            [tool("restic"), "-r", str(self.path), *args],
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
