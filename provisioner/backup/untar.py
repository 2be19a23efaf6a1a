"""Reading a backup's tar stream safely: every member is checked before anything is written.

:class:`MemberRules` (pure) decides whether a member may be restored at all. The stream comes from
a store we do not fully trust (a tampered archive may have metadata made to match), so a member is
refused, and the restore with it, when its name is absolute, has an empty, ``.`` or ``..``
component, lies outside the layout this tool writes (``dirs/<name>/...``, ``postgres/<db>.dump``,
``manifest.json``), repeats an earlier name, lies under an earlier symlink member or under a
directory that was not a member before it, is anything but a regular file, directory or symlink
(no hard links, devices, FIFOs), or has a setuid or setgid bit. A symlink's *target* is data and
comes back verbatim (absolute or not): what is refused is writing *through* one.

:class:`TreeWriter` writes the checked members below one directory descriptor with ``openat``
semantics: every parent is opened with ``O_NOFOLLOW | O_DIRECTORY`` and every file is created with
``O_EXCL | O_NOFOLLOW``, so even a member the rules missed cannot leave the tree or follow a link.
Names are bytes (``surrogateescape``): newlines and invalid UTF-8 come back exactly. Modes, mtimes
and (as root) owners are applied after the data; directories last, deepest first, so a read-only
directory does not block its own contents.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import tarfile
import threading
from dataclasses import dataclass, field
from typing import IO

from provisioner.backup.dumpread import DUMP_PART, DUMP_SINGLE
from provisioner.backup.errors import VerifyFailed

__all__ = ["DIRS_PREFIX", "MANIFEST_MEMBER", "MemberRules", "TreeWriter", "dump_database"]

DIRS_PREFIX = b"dirs/"
MANIFEST_MEMBER = "manifest.json"
_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def dump_database(name: str) -> tuple[str, int | None] | None:
    """The database whose dump the member ``name`` holds, and the part number; or None.

    The one place that knows how a dump is stored in the tar: one member ``postgres/<db>.dump``, or
    consecutive parts ``postgres/<db>.dump.part-000000``, ``-000001``, ... whose concatenation is the
    dump (archives that stream pg_dump's output without spooling it).
    """
    single = DUMP_SINGLE.fullmatch(name)
    if single is not None:
        return single.group(1), None
    part = DUMP_PART.fullmatch(name)
    return None if part is None else (part.group(1), int(part.group(2)))


@dataclass
class MemberRules:
    """Checks members in stream order; remembers names, directories and symlinks seen so far."""

    seen: set[bytes] = field(default_factory=set)
    dirs: set[bytes] = field(default_factory=set)
    symlinks: set[bytes] = field(default_factory=set)

    def check(self, member: tarfile.TarInfo) -> str:
        """``"dir"``, ``"file"``, ``"symlink"``, ``"dump"`` or ``"manifest"``; raises VerifyFailed."""
        raw = os.fsencode(member.name)
        shown = ascii(member.name[:120])
        kind = _KINDS.get(member.type)
        if kind is None:
            raise VerifyFailed(f"unsafe member {shown}: type {member.type!r} (only files, dirs, symlinks)")
        if member.mode & 0o6000:
            raise VerifyFailed(f"unsafe member {shown}: setuid or setgid bit ({member.mode:o})")
        if b"\0" in raw or raw.startswith(b"/"):
            raise VerifyFailed(f"unsafe member {shown}: absolute path or NUL")
        parts = raw.split(b"/")
        if any(p in (b"", b".", b"..") for p in parts):
            raise VerifyFailed(f"unsafe member {shown}: empty, '.' or '..' path component")
        if raw in self.seen:
            raise VerifyFailed(f"unsafe member {shown}: appears twice")
        for depth in range(1, len(parts)):
            if b"/".join(parts[:depth]) in self.symlinks:
                raise VerifyFailed(f"unsafe member {shown}: lies under a symlink member")
        if kind == "symlink" and "\0" in member.linkname:
            raise VerifyFailed(f"unsafe member {shown}: NUL in the link target")
        self.seen.add(raw)
        if raw.startswith(DIRS_PREFIX) and len(parts) >= 2:
            parent = b"/".join(parts[:-1])
            if len(parts) > 2 and parent not in self.dirs:
                raise VerifyFailed(f"unsafe member {shown}: its directory is not a member before it")
            if len(parts) == 2 and kind != "dir":
                raise VerifyFailed(f"unexpected member {shown}: a source must be a directory")
            if kind == "dir":
                self.dirs.add(raw)
            elif kind == "symlink":
                self.symlinks.add(raw)
            return kind
        if kind == "file" and dump_database(member.name) is not None:
            return "dump"
        if kind == "file" and member.name == MANIFEST_MEMBER:
            return "manifest"
        raise VerifyFailed(f"unexpected member {shown}: not part of a backup-registry archive")


class _Syncer:
    """fsync and close written files in a thread, so the next file is written meanwhile."""

    def __init__(self, depth: int = 64) -> None:
        self._queue: queue.Queue[int | None] = queue.Queue(depth)
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (fd := self._queue.get()) is not None:
            try:
                if self._error is None:
                    os.fsync(fd)
            except OSError as exc:
                self._error = exc
            finally:
                os.close(fd)

    def submit(self, fd: int) -> None:
        self._queue.put(fd)

    def finish(self) -> None:
        """Wait until every submitted file is durable; raise the first fsync error."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error


@dataclass
class TreeWriter:
    """Writes checked ``dirs/<name>/...`` members as ``<name>/...`` below ``root_fd`` (the caller's)."""

    root_fd: int
    chunk: int = 1024 * 1024
    fsync: bool = True
    files: int = 0
    written_bytes: int = 0
    _buffer: bytearray = field(default_factory=bytearray)
    _pending_dirs: list[tuple[bytes, tarfile.TarInfo]] = field(default_factory=list)
    _parent: tuple[bytes, int] | None = None
    _syncer: _Syncer | None = None

    def __post_init__(self) -> None:
        self._buffer = bytearray(self.chunk)
        self._syncer = _Syncer() if self.fsync else None

    def _parent_fd(self, parent: bytes) -> int:
        """The descriptor of ``parent`` (relative to the root), opened component by component."""
        if self._parent is not None and self._parent[0] == parent:
            return self._parent[1]
        self._drop_parent()
        fd = os.dup(self.root_fd)
        try:
            for part in parent.split(b"/") if parent else ():
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        self._parent = (parent, fd)
        return fd

    def _drop_parent(self) -> None:
        if self._parent is not None:
            os.close(self._parent[1])
            self._parent = None

    def write(self, member: tarfile.TarInfo, kind: str, data: IO[bytes] | None, digest: bool = False) -> str:
        """Write one member (name relative to the root); returns the data's SHA-256 when asked."""
        raw = os.fsencode(member.name).removeprefix(DIRS_PREFIX)
        parent, _, base = raw.rpartition(b"/")
        pfd = self._parent_fd(parent)
        mtime_ns = int(member.mtime * 1_000_000_000)
        if kind == "dir":
            os.mkdir(base, 0o700, dir_fd=pfd)
            self._pending_dirs.append((raw, member))
            return ""
        if kind == "symlink":
            os.symlink(os.fsencode(member.linkname), base, dir_fd=pfd)
            if os.geteuid() == 0:
                os.chown(base, member.uid, member.gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(base, ns=(mtime_ns, mtime_ns), dir_fd=pfd, follow_symlinks=False)
            self.files += 1
            return ""
        assert data is not None
        hasher = hashlib.sha256() if digest else None
        fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=pfd)
        try:
            view = memoryview(self._buffer)
            remaining = member.size
            while remaining:
                n = data.readinto(view[: min(remaining, len(view))])  # type: ignore[attr-defined]
                if not n:
                    raise VerifyFailed(f"member {member.name[:120]!a} is truncated")
                if hasher is not None:
                    hasher.update(view[:n])
                done = 0
                while done < n:
                    done += os.write(fd, view[done:n])
                remaining -= n
            if os.geteuid() == 0:
                os.fchown(fd, member.uid, member.gid)
            os.fchmod(fd, member.mode & 0o1777)
            os.utime(fd, ns=(mtime_ns, mtime_ns))
        except BaseException:
            os.close(fd)
            raise
        if self._syncer is not None:
            self._syncer.submit(fd)  # fsynced and closed in the background
        else:
            os.close(fd)
        self.files += 1
        self.written_bytes += member.size
        return hasher.hexdigest() if hasher is not None else ""

    def finish(self) -> None:
        """Wait for the files to be durable, then apply directory modes, owners and mtimes
        (deepest first) and make the directories durable."""
        self._drop_parent()
        if self._syncer is not None:
            self._syncer.finish()
        for raw, member in sorted(self._pending_dirs, key=lambda d: d[0].count(b"/"), reverse=True):
            fd = os.open(raw, _DIR_FLAGS, dir_fd=self.root_fd)
            try:
                if os.geteuid() == 0:
                    os.fchown(fd, member.uid, member.gid)
                os.fchmod(fd, member.mode & 0o1777)
                mtime_ns = int(member.mtime * 1_000_000_000)
                os.utime(fd, ns=(mtime_ns, mtime_ns))
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        self._pending_dirs.clear()

    def close(self) -> None:
        self._drop_parent()
        if self._syncer is not None:
            with contextlib.suppress(OSError):
                self._syncer.finish()
