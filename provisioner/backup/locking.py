"""One run per registry at a time: an exclusive ``flock`` on ``<registry folder>/.lock``, bounded wait."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from provisioner.backup.errors import LockTimeout
from provisioner.backup.logs import LOG
from provisioner.backup.store import LOCK_NAME

__all__ = ["registry_lock"]


@contextmanager
def registry_lock(
    folder: Path, registry: str, timeout: float, poll: float = 0.2, *, shared: bool = False
) -> Iterator[None]:
    """Hold the registry's lock; wait at most ``timeout`` seconds, then raise :class:`LockTimeout`.

    ``run`` and ``prune`` hold it exclusively; restores and drills hold it ``shared``: any number
    of them at once, but never while a backup is being written or pruned.

    The kernel releases a flock when its holder dies (even by SIGKILL), so a crashed run never
    leaves a stale lock behind; the lock file itself is kept and never pruned.
    """
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
            if not waited:
                LOG.info("waiting for another run of this registry", extra={"registry": registry})
                waited = True
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"another backup-registry run holds the lock for registry {registry!r} "
                    f"({folder / LOCK_NAME}); gave up after waiting {timeout:g} s"
                )
            time.sleep(poll)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
