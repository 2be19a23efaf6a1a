"""The one way this package starts a process: argv lists, absolute executables, a minimal environment.

Executables are resolved once with :func:`shutil.which` to an absolute path; children get only the
variables they need (``child_env``), so nothing from the job's environment leaks into them by
accident, and secrets travel only as environment variables or files, never as arguments.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from provisioner.backup.errors import BackupFailed

__all__ = ["LIBPQ_ENV", "Tool", "child_env", "resolve_tool", "wait_exited"]

# Connection settings libpq reads (https://www.postgresql.org/docs/current/libpq-envars.html).
LIBPQ_ENV = (
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGPASSFILE",
    "PGPASSWORD",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSYSCONFDIR",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGSSLCRL",
    "PGCONNECT_TIMEOUT",
    "PGTARGETSESSIONATTRS",
)
_BASE_ENV = ("HOME", "TMPDIR")


def child_env(source: Mapping[str, str], passthrough: Sequence[str] = (), **extra: str) -> dict[str, str]:
    """A minimal environment: a fixed PATH, C.UTF-8 locale, UTC, plus the named variables if set."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8", "TZ": "UTC"}
    for name in (*_BASE_ENV, *passthrough):
        if name in source:
            env[name] = source[name]
    env.update(extra)
    return env


@dataclass(frozen=True)
class Tool:
    """An external program resolved to an absolute path."""

    name: str
    path: str

    def argv(self, *args: str) -> list[str]:
        return [self.path, *args]

    def start(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        stdout: int | IO[bytes] = subprocess.PIPE,
        stderr: int | IO[bytes] = subprocess.PIPE,
    ) -> subprocess.Popen[bytes]:
        """Start it with a pipe for its stdin (the caller writes, closes and waits)."""
        try:
            return subprocess.Popen(
                self.argv(*args), env=dict(env), stdin=subprocess.PIPE, stdout=stdout, stderr=stderr
            )
        except OSError as exc:
            raise BackupFailed(f"cannot start {self.name}: {exc.strerror}") from exc

    def run(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        timeout: float | None = None,
        stdin: int | None = subprocess.DEVNULL,
        input: bytes | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run to completion: ``input`` (bytes for its stdin) replaces ``stdin`` when given."""
        try:
            argv, child = self.argv(*args), dict(env)
            if input is not None:
                return subprocess.run(
                    argv, env=child, input=input, capture_output=True, timeout=timeout, check=False
                )
            return subprocess.run(
                argv, env=child, stdin=stdin, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BackupFailed(f"{self.name} did not finish within {timeout:.0f} s") from exc
        except OSError as exc:
            raise BackupFailed(f"cannot start {self.name}: {exc.strerror}") from exc


def resolve_tool(name: str, path_env: str | None = None) -> Tool:
    """Find ``name`` on PATH once and pin its absolute path (raises BackupFailed when missing)."""
    found = shutil.which(name, path=path_env if path_env is not None else os.environ.get("PATH"))
    if found is None:
        raise BackupFailed(f"{name} not found on PATH")
    # abspath, not realpath: pg_dump on Debian is a symlink to a wrapper that dispatches on its name.
    return Tool(name=name, path=os.path.abspath(found))


def wait_exited(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """``proc.wait(timeout)`` without its polling loop, which sleeps up to 50 ms between checks
    (a late answer after every ``pg_restore``): a pidfd becomes readable when the child exits.
    Raises ``subprocess.TimeoutExpired`` like ``wait``."""
    pidfd = os.pidfd_open(proc.pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(pidfd)
    return proc.wait()
