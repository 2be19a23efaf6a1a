"""Writing one backup archive: a tar stream, compressed with zstd, hashed while it is written.

One pass: ``tarfile`` (stream mode) -> ``zstandard`` multi-threaded compressor -> a writer that
feeds every compressed chunk to SHA-256 and then to the temp file. Then fsync, read back and
re-hash (verify-after-write), rename into place, fsync the folder. The caller writes the metadata
last, so a backup exists only once its metadata does.

The tar (PAX): first each database's dump as ``postgres/<db>.dump.part-000000``, ``-000001``, ...
(consecutive members whose concatenation is the ``pg_dump --format=custom`` output; databases in
the order given; :mod:`provisioner.backup.pgdump` says why parts, :mod:`provisioner.backup.dumpread`
reads them back, and reads the single ``postgres/<db>.dump`` member of archives written before),
then ``dirs/<name>/...`` per source directory. Any ``tar --zstd`` reads the archive.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import zstandard

from provisioner._fs import create_exclusive, fsync_dir, remove_quietly
from provisioner.backup.dumpread import part_name
from provisioner.backup.errors import BackupFailed
from provisioner.backup.logs import LOG, Progress
from provisioner.backup.pgdump import PART_SIZE, PgDumpSource, running_dumps
from provisioner.backup.readback import ReadBack
from provisioner.backup.store import ARCHIVE_SUFFIX
from provisioner.backup.tarstream import TarOutput, TarWriter
from provisioner.backup.untar import MANIFEST_MEMBER

__all__ = ["ArchiveResult", "HashingWriter", "RawSink", "stream_tar", "write_archive"]

ZSTD_LEVEL = 1
IO_CHUNK = 1024 * 1024


class RawSink(Protocol):
    """Where compressed bytes go (a file descriptor wrapper; tests may inject write failures)."""

    def write(self, data: bytes | memoryview) -> int: ...


class _FdSink:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data)
        total = len(view)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        return total


class HashingWriter(io.RawIOBase):
    """File-like sink for zstandard: hashes and counts each chunk, then hands it to the raw sink."""

    def __init__(self, sink: RawSink, progress: Progress, readback: ReadBack | None = None) -> None:
        super().__init__()
        import hashlib

        self._sink = sink
        self._progress = progress
        self._readback = readback
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data)
        self.digest.update(view)
        self._sink.write(view)
        self.size += len(view)
        if self._readback is not None:
            self._readback.publish(self.size)
        return len(view)


@dataclass(frozen=True)
class ArchiveResult:
    path: Path
    sha256: str
    size_bytes: int
    sources: tuple[dict[str, str], ...]
    seconds: float


def _unique_arcnames(dirs: Sequence[Path]) -> list[str]:
    names: list[str] = []
    for d in dirs:
        base = d.name or "root"
        name, n = base, 1
        while f"dirs/{name}" in names:
            n += 1
            name = f"{base}-{n}"
        names.append(f"dirs/{name}")
    return names


def manifest_bytes(files: list[dict[str, object]], databases: dict[str, object]) -> bytes:
    """The manifest: every regular member (path, size, SHA-256) and each database's row counts.

    Member paths are text with undecodable bytes as lone surrogates (``surrogateescape``), which
    JSON carries as ``\\udcXX`` escapes: the exact bytes come back on reading.
    """
    import json

    data = {"version": 1, "files": files, "databases": databases}
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _manifest_info() -> tarfile.TarInfo:
    info = tarfile.TarInfo(MANIFEST_MEMBER)
    info.mtime = int(time.time())
    info.mode = 0o600
    return info


def write_archive(
    folder: Path,
    backup_id: str,
    dirs: Sequence[Path],
    databases: Sequence[PgDumpSource],
    *,
    verify: bool = True,
    threads: int = -1,
    jobs: int = 1,
    sink_factory: Callable[[int], RawSink] = _FdSink,
    progress: Progress | None = None,
) -> ArchiveResult:
    """Write ``<folder>/<backup_id>.tar.zst`` atomically and return its checksum (no metadata yet)."""
    started = time.monotonic()
    progress = progress if progress is not None else Progress(f"backup {backup_id}")
    tmp, fd = create_exclusive(folder, backup_id + ARCHIVE_SUFFIX)
    readback = ReadBack(tmp) if verify else None
    try:
        if readback is not None:
            readback.start()
        writer = HashingWriter(sink_factory(fd), progress, readback)
        cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=threads, write_checksum=True)
        with cctx.stream_writer(writer, write_size=IO_CHUNK, closefd=False) as zwriter:  # type: ignore[arg-type]
            sources = stream_tar(zwriter, dirs, databases, spool_dir=folder, progress=progress, jobs=jobs)
        progress.finish()
        streamed = time.monotonic()
        os.fsync(fd)
        synced = time.monotonic()
        digest, size = writer.digest.hexdigest(), writer.size
        if readback is not None:
            again, again_size = readback.finish()
            readback = None
            if (again, again_size) != (digest, size):
                raise BackupFailed(
                    f"verify after write failed: wrote {size} bytes with SHA-256 {digest}, "
                    f"read back {again_size} bytes with {again}"
                )
        LOG.debug(
            "archive timings",
            extra={
                "stream_s": round(streamed - started, 3),
                "fsync_s": round(synced - streamed, 3),
                "verify_wait_s": round(time.monotonic() - synced, 3),
            },
        )
        # A backup is rarely read again soon: leave the page cache to the registry's services.
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        fd = -1
        final = folder / (backup_id + ARCHIVE_SUFFIX)
        os.replace(tmp, final)
        fsync_dir(folder)
    except BaseException:
        if readback is not None:
            readback.abandon()
        if fd >= 0:
            os.close(fd)
        remove_quietly(tmp)
        raise
    return ArchiveResult(final, digest, size, sources, time.monotonic() - started)


def _part_info(database: str, index: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(part_name(database, index))
    info.mtime = int(time.time())
    info.mode = 0o600
    return info


def stream_tar(
    out: TarOutput,
    dirs: Sequence[Path],
    databases: Sequence[PgDumpSource],
    *,
    spool_dir: Path | None,
    progress: Progress,
    jobs: int = 1,
) -> tuple[dict[str, str], ...]:
    """Write a tar stream of the databases (pg_dump custom format, streamed as parts: see
    :mod:`provisioner.backup.pgdump`) and directory trees to ``out``; ``jobs`` pg_dumps at a time."""
    sources: list[dict[str, str]] = []
    tar = TarWriter(out, progress, IO_CHUNK)
    counts: dict[str, object] = {}
    with running_dumps(databases, jobs, spool_dir) as dumps:
        scratch = memoryview(bytearray(PART_SIZE)) if databases else memoryview(b"")
        for dump in dumps:
            count = 0
            for data in dump.parts(scratch):
                tar.add_bytes(_part_info(dump.source.database, count), data)
                count += 1
            dump.check()
            rows = dump.row_counts()
            if rows is not None:
                counts[dump.source.database] = rows
            if count == 0:  # never from a pg_dump that exited 0; kept so every dump has a part 0
                tar.add_bytes(_part_info(dump.source.database, count), memoryview(b""))
                count += 1
            sources.append(
                {
                    "type": "postgres",
                    "database": dump.source.database,
                    "member": f"postgres/{dump.source.database}.dump",
                    "parts": str(count),
                    "bytes": str(dump.size),
                }
            )
    for path, arcname in zip(dirs, _unique_arcnames(dirs), strict=True):
        tar.add_tree(path, arcname)
        sources.append({"type": "directory", "path": str(path), "member": arcname})
    tar.add_bytes(_manifest_info(), manifest_bytes(tar.files, counts))
    tar.close()
    return tuple(sources)
