"""Validation of every value the backup script accepts, done before anything runs.

Pure functions: each takes the raw text (from argv or the environment) and returns a typed
value or raises :class:`InvalidInput` naming the argument and what is allowed. Nothing here
touches the disk except resolving paths (``os.path.realpath`` / ``stat``), which creates nothing.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from provisioner.backup.errors import InvalidInput
from provisioner.backup.ids import is_backup_id
from provisioner.names import REGISTRY_NAME_RULE, is_registry_name

__all__ = [
    "MAX_HOURS",
    "MIN_HOURS",
    "check_backup_id",
    "check_expires_in_hours",
    "check_jobs",
    "check_metrics_file",
    "check_password_file",
    "check_pg_database",
    "check_pg_database_map",
    "check_registry",
    "check_restic_repo",
    "check_restore_target",
    "check_source_dir",
    "check_store",
    "registry_dir",
]

MIN_HOURS = 168  # 7 days
MAX_HOURS = 87600  # 10 years
MAX_JOBS = 16  # pg_dump processes at once: each holds a server connection (and 1 MiB here)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
# No leading '-' (option injection), no '=' or '://' (libpq would read a connection string).
_PG_DATABASE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}", re.ASCII)
_MAX_PATH = 4096
_PATH_PUNCT = "._-+/@,:=%~"  # plus "_" (see _PATH_CHARS)
_PATH_CHARS = re.compile(r"[A-Za-z0-9 ._+/@,:=%~_-]+", re.ASCII)


_RESTIC_BACKENDS = frozenset({"local", "sftp", "rest", "s3", "azure", "gs", "b2", "swift", "rclone"})


def _show(value: str) -> str:
    """A bounded, escaped rendering of a hostile value for error messages and logs."""
    shown = ascii(value[:60])
    return shown + ("..." if len(value) > 60 else "")


def _masked(value: str) -> str:
    """How a rejected value that may hold a credential is named: never any of its text.

    A restic repository URL can carry a password (``rest:https://user:password@host/``); only its
    backend (when it is one restic knows) and its length are shown.
    """
    backend, colon, _ = value.partition(":")
    kind = f"the {backend}: repository" if colon and backend in _RESTIC_BACKENDS else "the value"
    return f"{kind} ({len(value)} characters; not shown, it may hold a password)"


def check_registry(value: str | None, argument: str = "--registry") -> str:
    """A DNS-1123 label: lowercase letters, digits and '-', 1-63 characters, alphanumeric at both ends."""
    if value is None or value == "":
        raise InvalidInput(argument, "missing (give --registry or set REGISTRY_NAME)")
    if len(value) > 63:
        raise InvalidInput(argument, f"{_show(value)} is longer than 63 characters (a DNS-1123 label)")
    if not is_registry_name(value):
        raise InvalidInput(
            argument,
            f"{_show(value)} is not a DNS-1123 label ({REGISTRY_NAME_RULE})",
        )
    return value


def check_expires_in_hours(value: str | None, argument: str = "--expires-in-hours") -> int:
    """ASCII decimal digits only (no sign, blanks, '_', exponent, leading zero), 168..87600."""
    if value is None or value == "":
        raise InvalidInput(argument, "missing (give --expires-in-hours or set EXPIRES_IN_HOURS)")
    if len(value) > 5 or not _DIGITS.fullmatch(value):
        raise InvalidInput(
            argument,
            f"{_show(value)} is not a whole number of hours written in ASCII digits "
            f"({MIN_HOURS}..{MAX_HOURS})",
        )
    if value.startswith("0"):
        raise InvalidInput(argument, f"{_show(value)} has a leading zero ({MIN_HOURS}..{MAX_HOURS})")
    hours = int(value)
    if not MIN_HOURS <= hours <= MAX_HOURS:
        raise InvalidInput(
            argument, f"{hours} is outside {MIN_HOURS}..{MAX_HOURS} hours (7 days to 10 years)"
        )
    return hours


def check_jobs(value: str, argument: str = "--jobs") -> int:
    """How many pg_dump processes may run at once: ASCII digits, no leading zero, 1..16."""
    if len(value) > 2 or not _DIGITS.fullmatch(value) or value.startswith("0") or int(value) > MAX_JOBS:
        raise InvalidInput(
            argument, f"{_show(value)} is not a whole number from 1 to {MAX_JOBS} written in ASCII digits"
        )
    return int(value)


def check_backup_id(value: str, argument: str = "--id") -> str:
    """A backup id as this tool makes them: ``YYYYMMDDTHHMMSSZ`` with an optional ``-NN``."""
    if not is_backup_id(value):
        raise InvalidInput(argument, f"{_show(value)} is not a backup id (like 20261122T193000Z)")
    return value


def check_pg_database(value: str, argument: str = "--pg-database") -> str:
    if not _PG_DATABASE.fullmatch(value):
        raise InvalidInput(
            argument,
            f"{_show(value)} is not a plain database name (A-Z, a-z, 0-9, '_' and '-', "
            "at most 63 characters, not starting with '-')",
        )
    return value


def _check_path_text(value: str, argument: str, *, secret: bool = False) -> None:
    """Paths may hold only a conservative set of characters: no shell or control characters at all.

    ``secret``: the value may hold a credential, so messages name it without echoing it.
    """
    shown = _masked(value) if secret else _show(value)
    if value == "":
        raise InvalidInput(argument, "empty path")
    if len(value) > _MAX_PATH:
        raise InvalidInput(argument, f"path longer than {_MAX_PATH} characters")
    if value.startswith("-"):
        raise InvalidInput(argument, f"{shown} starts with '-'")
    if not _PATH_CHARS.fullmatch(value):
        bad = next(i for i, c in enumerate(value) if not _PATH_CHARS.fullmatch(c))
        raise InvalidInput(
            argument,
            f"{shown}: character {bad + 1} is not allowed; it may contain only ASCII letters, digits, "
            f"space, '_' and {_PATH_PUNCT}",
        )


def _dir_or_new(value: str, argument: str) -> tuple[Path, bool]:
    """``value`` resolved, and whether it exists (then it must be a directory)."""
    _check_path_text(value, argument)
    resolved = Path(os.path.realpath(value))
    try:
        st = os.stat(resolved)
    except FileNotFoundError:
        return resolved, False
    except OSError as exc:
        raise InvalidInput(argument, f"{_show(value)}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidInput(argument, f"{_show(value)} exists and is not a directory")
    return resolved, True


def check_store(value: str, argument: str = "--store") -> Path:
    """The store directory, resolved; it must be a directory if it exists (it is created by `run`)."""
    return _dir_or_new(value, argument)[0]


def check_metrics_file(value: str, argument: str = "--metrics-file") -> Path:
    """A ``*.prom`` file (what node_exporter's textfile collector reads) in an existing directory."""
    _check_path_text(value, argument)
    path = Path(os.path.realpath(value))
    if not path.name.endswith(".prom") or path.name == ".prom":
        raise InvalidInput(
            argument, f"{_show(value)}: the name must end in .prom (node_exporter reads only those)"
        )
    if not path.parent.is_dir():
        raise InvalidInput(argument, f"{_show(value)}: its directory does not exist")
    if path.exists() and not path.is_file():
        raise InvalidInput(argument, f"{_show(value)} exists and is not a regular file")
    return path


def registry_dir(store: Path, registry: str) -> Path:
    """The registry's folder inside the (resolved) store; refuses anything that would leave it."""
    check_registry(registry)
    folder = store / registry
    if folder.is_symlink():
        raise InvalidInput("--store", f"{registry!r} in the store is a symbolic link")
    if os.path.dirname(os.path.realpath(folder)) != str(store):
        raise InvalidInput("--store", f"the folder for {registry!r} resolves outside the store")
    return folder


def check_source_dir(value: str, argument: str = "--source") -> Path:
    """An existing, readable directory, resolved to its real absolute path."""
    _check_path_text(value, argument)
    resolved = Path(os.path.realpath(value))
    if not resolved.is_dir():
        raise InvalidInput(argument, f"{_show(value)} is not an existing directory")
    if not os.access(resolved, os.R_OK | os.X_OK):
        raise InvalidInput(argument, f"{_show(value)} is not readable")
    return resolved


def check_restic_repo(value: str | None, argument: str = "--restic-repo") -> str:
    """A restic repository location; passed to restic through RESTIC_REPOSITORY, never argv.

    ``argument`` names where the value came from (the flag or the environment variable); a rejected
    value is never echoed, since a repository URL may carry a password.
    """
    if value is None or value == "":
        raise InvalidInput(argument, "missing (give --restic-repo or set RESTIC_REPOSITORY)")
    _check_path_text(value, argument, secret=True)
    if ":" not in value.split("/", 1)[0]:  # a local path: resolve it
        return os.path.realpath(value)
    return value


def check_password_file(value: str, argument: str) -> Path:
    """A secret file: must exist as a regular, readable file (its content is never read or logged here)."""
    _check_path_text(value, argument)
    path = Path(os.path.realpath(value))
    if not path.is_file() or not os.access(path, os.R_OK):
        raise InvalidInput(argument, "is not a readable regular file")
    return path


def check_restore_target(value: str, force: bool, argument: str = "--to") -> Path:
    """Where a restore writes: a new directory in an existing one, or an empty directory (any
    directory with ``force``; what is in it is never replaced). Resolved; never ``/``."""
    resolved, exists = _dir_or_new(value, argument)
    if resolved == resolved.parent:
        raise InvalidInput(argument, "cannot restore into /")
    if not resolved.parent.is_dir():
        raise InvalidInput(argument, f"{_show(value)}: its parent directory does not exist")
    if exists and not force and os.listdir(resolved):
        raise InvalidInput(argument, f"{_show(value)} is not empty (add --force to restore into it)")
    return resolved


def check_pg_database_map(
    values: list[str], argument: str = "--pg-database-map"
) -> tuple[tuple[str, str], ...]:
    """``SRC=DEST`` pairs of plain database names; each source and each destination at most once."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        src, sep, dest = value.partition("=")
        if not sep:
            raise InvalidInput(argument, f"{_show(value)} is not SRC=DEST")
        pairs.append((check_pg_database(src, argument), check_pg_database(dest, argument)))
    for index in (0, 1):
        names = [p[index] for p in pairs]
        if len(set(names)) != len(names):
            raise InvalidInput(argument, "a database is named twice")
    return tuple(pairs)
