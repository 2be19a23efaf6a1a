"""What the console reads: each registry's committed settings (git) and its backups (store or Jenkins).

Reads are cached so that a page load or an API call costs microseconds, not a git walk and a
checksum of every archive: the settings by branch head (a new commit is a new key), the store's
facts by the registry folder's modification time (a new or deleted backup changes it; re-checked
every 10 minutes), Jenkins's answer for 30 seconds. ``fresh()`` tells the server whether a read
would hit the cache; when not, it loads in a worker thread, so hashing a large archive or waiting
for Jenkins never stalls the event loop.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from provisioner.gitsource import Author, branch_head, read_values_from_git
from provisioner.settings.policy import Policy
from provisioner.settings.values import ValidationResult, validate_values_text, written_backup_values
from provisioner.status import LastBackup

if TYPE_CHECKING:
    from provisioner.jenkins.http import HttpTarget
    from provisioner.jenkins.target import JobPath

STORE_TTL_SECONDS = 600.0
HEAD_TTL_SECONDS = 60.0
JENKINS_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class RegistrySource:
    name: str
    repo: Path
    values_path: str
    branch: str  # the checked-out branch the console reads and commits to
    push_to: tuple[str, str] | None  # (remote, branch); None: commit only
    job: JobPath  # the Jenkins job (for --jenkins-url)


@dataclass(frozen=True)
class Committed:
    """values.yaml at the branch head."""

    head: str  # the branch head: what a save must name as its base
    values_commit: str | None  # the last commit that changed values.yaml
    author: Author | None
    result: ValidationResult
    written: dict[str, str]  # global.registryBackup's scalars as written (shown when invalid)


@dataclass(frozen=True)
class Backup:
    id: str
    created_at: datetime
    deletes_at: datetime | None


@dataclass(frozen=True)
class Facts:
    last: LastBackup | None
    kept: tuple[Backup, ...] | None  # None: the source cannot list them (Jenkins)
    warnings: tuple[str, ...]


class FactsSource(Protocol):
    def facts(self, source: RegistrySource) -> Facts: ...

    def fresh(self, source: RegistrySource) -> bool:
        """Whether facts() would answer from its cache (no I/O beyond a stat)."""
        ...


K = TypeVar("K")
V = TypeVar("V")


class _TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._items: dict[str, tuple[K, float, V]] = {}
        self._lock = threading.Lock()

    def get(self, name: str, key: K, load: Callable[[], V]) -> V:
        with self._lock:
            hit = self._items.get(name)
        now = self._clock()
        if hit is not None and hit[0] == key and now - hit[1] < self._ttl:
            return hit[2]
        value = load()
        with self._lock:
            self._items[name] = (key, now, value)
        return value

    def fresh(self, name: str, key: K) -> bool:
        with self._lock:
            hit = self._items.get(name)
        return hit is not None and hit[0] == key and self._clock() - hit[1] < self._ttl

    def forget(self, name: str) -> None:
        with self._lock:
            self._items.pop(name, None)


class StoreFacts:
    """The archive store backup-registry writes: every kept backup, the newest verified one."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self._cache: _TtlCache[int, Facts] = _TtlCache(STORE_TTL_SECONDS)
        self._folders: dict[str, str] = {}

    def _key(self, source: RegistrySource) -> int:
        folder = self._folders.get(source.name)
        if folder is None:
            folder = self._folders[source.name] = str(self.store / source.name)
        try:
            return os.stat(folder).st_mtime_ns
        except OSError:
            return -1

    def fresh(self, source: RegistrySource) -> bool:
        return self._cache.fresh(source.name, self._key(source))

    def facts(self, source: RegistrySource) -> Facts:
        return self._cache.get(source.name, self._key(source), lambda: self._load(source.name))

    def _load(self, registry: str) -> Facts:
        from provisioner.last_backup import last_from_store

        last, records, warnings = last_from_store(self.store, registry)
        kept = tuple(Backup(r.id, r.created_at, r.expires_at) for r in records)
        return Facts(last, kept, tuple(warnings))


class JenkinsFacts:
    """The job's last successful build (Jenkins does not list the store's backups)."""

    def __init__(self, target: HttpTarget) -> None:
        self.target = target
        self._cache: _TtlCache[str, Facts] = _TtlCache(JENKINS_TTL_SECONDS)

    def fresh(self, source: RegistrySource) -> bool:
        return self._cache.fresh(source.name, source.job.full_name)

    def facts(self, source: RegistrySource) -> Facts:
        return self._cache.get(source.name, source.job.full_name, lambda: self._load(source))

    def _load(self, source: RegistrySource) -> Facts:
        from provisioner.last_backup import last_from_jenkins

        last, warnings = last_from_jenkins(self.target, source.job)
        return Facts(last, None, tuple(warnings))


@functools.cache
def _ref_files(repo: Path, branch: str) -> tuple[str, ...]:
    git_dir = repo / ".git"
    return (str(git_dir / "HEAD"), str(git_dir / "refs" / "heads" / branch), str(git_dir / "packed-refs"))


def ref_files_key(repo: Path, branch: str) -> tuple[tuple[int, int, int], ...]:
    """What git changes when a branch moves: HEAD, the loose ref, packed-refs (inode, size, mtime).

    git replaces ref files by rename, so a moved branch always changes this key; three stat calls
    cost microseconds where opening the repository costs a few hundred.
    """
    found: list[tuple[int, int, int]] = []
    for path in _ref_files(repo, branch):
        try:
            info = os.stat(path)
            found.append((info.st_ino, info.st_size, info.st_mtime_ns))
        except OSError:
            found.append((0, -1, 0))
    return tuple(found)


class Settings:
    """values.yaml at each registry's branch head, validated once per commit."""

    def __init__(self, policy: Policy, clock: Callable[[], datetime]) -> None:
        self.policy, self.clock = policy, clock
        self._cache: _TtlCache[str, Committed] = _TtlCache(3600.0)  # DST warnings look ahead from now
        self._heads: _TtlCache[tuple[tuple[int, int, int], ...], str] = _TtlCache(HEAD_TTL_SECONDS)

    def head(self, source: RegistrySource) -> str:
        key = ref_files_key(source.repo, source.branch)
        return self._heads.get(source.name, key, lambda: self._read_head(source))

    def _read_head(self, source: RegistrySource) -> str:
        branch, head = branch_head(source.repo)
        if branch != source.branch:
            from provisioner.errors import UsageError

            raise UsageError(f"{source.repo}: the checked-out branch is now {branch}, not {source.branch}")
        return head

    def committed(self, source: RegistrySource) -> Committed:
        head = self.head(source)
        return self._cache.get(source.name, head, lambda: self._load(source, head))

    def _load(self, source: RegistrySource, head: str) -> Committed:
        values = read_values_from_git(source.repo, head, source.values_path)
        result = validate_values_text(values.text, self.policy, now=self.clock())
        written = written_backup_values(values.text) if result.settings is None else {}
        return Committed(head, values.commit, values.author, result, written)
