"""A tar stream writer with a reusable read buffer (no per-chunk allocations, no extra copies).

``tarfile`` makes the headers (PAX format: long names, big files, exact mtimes); the file data is
read with ``readv`` into one preallocated buffer and handed to the output as a memoryview. Going
through ``TarFile.addfile`` instead costs about three copies and a fresh 1 MiB object per chunk,
which on a 2-core machine was the difference between meeting and missing the benchmark target.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from pathlib import Path
from typing import Protocol

from provisioner.backup.errors import BackupFailed
from provisioner.backup.logs import LOG, Progress

__all__ = ["TarOutput", "TarWriter"]

_BLOCK = tarfile.BLOCKSIZE  # 512
_RECORD = tarfile.RECORDSIZE  # 10240: the archive is padded to whole records, like tar(1) does


class TarOutput(Protocol):
    def write(self, data: bytes | memoryview, /) -> int: ...


class TarWriter:
    """``files`` lists each regular file added (member name, size, SHA-256): the backup's manifest."""

    def __init__(self, out: TarOutput, progress: Progress, chunk: int = 1024 * 1024) -> None:
        self._out = out
        self._progress = progress
        self._buffer = bytearray(chunk)
        self._view = memoryview(self._buffer)
        self._written = 0
        self.files: list[dict[str, object]] = []

    def _emit(self, data: bytes | memoryview) -> None:
        self._out.write(data)
        self._written += len(data)

    def add_header(self, info: tarfile.TarInfo) -> None:
        self._emit(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def add_data(self, fd: int, size: int, name: str) -> None:
        """Copy exactly ``size`` bytes from ``fd`` (from its current offset), then pad to a block."""
        digest = hashlib.sha256()
        remaining = size
        while remaining:
            n = os.readv(fd, [self._view[: min(remaining, len(self._view))]])
            if n == 0:
                raise BackupFailed(f"{name} shrank while it was being backed up")
            digest.update(self._view[:n])
            self._emit(self._view[:n])
            self._progress.advance(n)
            remaining -= n
        pad = -size % _BLOCK
        if pad:
            self._emit(bytes(pad))
        self.files.append({"path": name, "size": size, "sha256": digest.hexdigest()})

    def add_bytes(self, info: tarfile.TarInfo, data: bytes | memoryview) -> None:
        """A member whose data is in memory: header, data, padding to a block."""
        info.size = len(data)
        self.add_header(info)
        self._emit(data)
        self._progress.advance(len(data))
        pad = -len(data) % _BLOCK
        if pad:
            self._emit(bytes(pad))

    def add_fd(self, info: tarfile.TarInfo, fd: int) -> None:
        self.add_header(info)
        self.add_data(fd, info.size, info.name)

    def add_tree(self, root: Path, arcname: str) -> None:
        """Add a directory tree, sorted, without following symlinks; unreadable entries fail."""
        try:
            self._add_path(root, arcname)
            for current, subdirs, files in os.walk(root, onerror=_raise, followlinks=False):
                subdirs.sort()
                base = Path(current)
                rel = base.relative_to(root).as_posix()
                prefix = arcname if rel == "." else f"{arcname}/{rel}"
                for name in sorted(subdirs) + sorted(files):
                    self._add_path(base / name, f"{prefix}/{name}")
        except OSError as exc:
            raise BackupFailed(f"cannot read source {exc.filename or root}: {exc.strerror or exc}") from exc

    def _add_path(self, path: Path, name: str) -> None:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                before = os.fstat(fd)
                info = _info(name, before, path)
                self.add_fd(info, fd)  # exactly the header's size: a shrunk file fails, never padded
                after = os.fstat(fd)
            finally:
                os.close(fd)
            if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                # As GNU tar: the archive holds the size the header recorded (still a valid tar);
                # a file that grew or was rewritten while read is worth a warning, not a failure.
                LOG.warning(
                    "file changed as we read it",
                    extra={"path": str(path), "archivedBytes": info.size, "sizeNow": after.st_size},
                )
        elif stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
            self.add_header(_info(name, st, path))
        else:
            LOG.warning("skipped special file", extra={"path": str(path)})

    def close(self) -> None:
        """Two zero blocks end the archive; pad to a whole record."""
        end = 2 * _BLOCK
        end += -(self._written + end) % _RECORD
        self._emit(bytes(end))


def _info(name: str, st: os.stat_result, path: Path) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    if stat.S_ISREG(st.st_mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    else:
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    return info


def _raise(exc: OSError) -> None:
    raise exc
