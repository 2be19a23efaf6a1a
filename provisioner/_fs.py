"""Small durable-file helpers: exclusive creation, fsync of files and folders, the one atomic write."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from pathlib import Path

from provisioner.errors import UsageError

__all__ = [
    "TEMP_PREFIX",
    "atomic_write_bytes",
    "atomic_write_json",
    "create_exclusive",
    "fsync_dir",
    "remove_quietly",
    "write_text_atomically",
]

# Every temporary name this package makes in a registry folder starts with this prefix, and
# nothing else does: the next run may delete exactly these names (regular files only).
TEMP_PREFIX = ".backup-registry-tmp-"

_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def create_exclusive(folder: Path, stem: str) -> tuple[Path, int]:
    """Create a new temp file ``<TEMP_PREFIX><stem>.<random>`` in ``folder``; returns (path, fd)."""
    path = folder / f"{TEMP_PREFIX}{stem}.{secrets.token_hex(6)}"
    fd = os.open(path, _CREATE_FLAGS, 0o600)
    return path, fd


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def atomic_write_json(folder: Path, name: str, data: object) -> Path:
    """Write ``data`` as ``folder/name`` atomically: temp file in ``folder``, fsync, rename, fsync folder."""
    payload = (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")
    return atomic_write_bytes(folder, name, payload)


def atomic_write_bytes(folder: Path, name: str, payload: bytes, mode: int = 0o600) -> Path:
    """Write ``payload`` as ``folder/name`` atomically (readers see the old file or the new, never half).

    The one atomic write: a temp file named with :data:`TEMP_PREFIX` in ``folder``, fsync, chmod,
    rename, fsync of the folder. Raises ``OSError``: callers translate it into their own error.
    """
    tmp, fd = create_exclusive(folder, name)
    try:
        with os.fdopen(fd, "wb", closefd=True) as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if mode != 0o600:
            os.chmod(tmp, mode)
        target = folder / name
        os.replace(tmp, target)
    except BaseException:
        remove_quietly(tmp)
        raise
    fsync_dir(folder)
    return target


def write_text_atomically(target: Path, text: str) -> None:
    """Replace a regular file (or create one) atomically, keeping an existing file's mode.

    Used for values.yaml (upgrade-values, the console): ``UsageError`` names the file on failure.
    """
    try:
        info = target.lstat()
        if not stat.S_ISREG(info.st_mode):  # never rename over a device, a pipe or a symlink
            raise UsageError(f"cannot write {target}: not a regular file")
        mode = info.st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from exc
    folder = target.parent if str(target.parent) else Path(".")
    try:
        atomic_write_bytes(folder, target.name, text.encode("utf-8", "surrogateescape"), mode)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from exc
