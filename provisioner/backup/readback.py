"""Verify-after-write that runs behind the writer: re-reads the file as it grows and re-hashes it.

The writer publishes how many bytes it has written; this thread reads those bytes back from the
file through a second descriptor (``pread``, so never from the writer's buffers) and feeds them to
its own SHA-256. At the end the writer fsyncs, the thread reads up to end of file, and both digests
and sizes must agree. Reading behind the writer instead of after it overlaps the re-hash with
compression (the 2-core benchmark target needs that); like a read-back after the fact, it reads
through the page cache. Media errors are what `verify` (and every prune) catch later.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

__all__ = ["ReadBack"]

_WRITEBACK_STEP = 32 * 1024 * 1024


class ReadBack(threading.Thread):
    def __init__(self, path: Path, chunk: int = 4 * 1024 * 1024) -> None:
        super().__init__(name="backup-read-back", daemon=True)
        self._fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        self._chunk = chunk
        self._cond = threading.Condition()
        self._available = 0
        self._closed = False
        self._error: BaseException | None = None
        self.digest = hashlib.sha256()
        self.size = 0

    def publish(self, written: int) -> None:
        """The writer has written ``written`` bytes in total (called after each write returns)."""
        with self._cond:
            self._available = written
            self._cond.notify()

    def finish(self) -> tuple[str, int]:
        """After the writer's fsync: read to end of file and return (sha256 hex, size)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self.join()
        self._close_fd()
        if self._error is not None:
            raise self._error
        return self.digest.hexdigest(), self.size

    def abandon(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self.is_alive():
            self.join()
        self._close_fd()

    def _close_fd(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def run(self) -> None:
        buffer = bytearray(self._chunk)
        view = memoryview(buffer)
        advised = 0
        try:
            while True:
                with self._cond:
                    while self._available <= self.size and not self._closed:
                        self._cond.wait()
                    limit, closed = self._available, self._closed
                if closed:
                    limit = -1  # read to end of file: catches data beyond what the writer reported
                while limit < 0 or self.size < limit:
                    want = len(view) if limit < 0 else min(len(view), limit - self.size)
                    n = os.preadv(self._fd, [view[:want]], self.size)
                    if n == 0:
                        break
                    self.digest.update(view[:n])
                    self.size += n
                    if self.size - advised >= _WRITEBACK_STEP:
                        # Verified: start its writeback now (DONTNEED on dirty pages queues them for
                        # writing without waiting), so the writer's final fsync has little left to do.
                        os.posix_fadvise(self._fd, advised, self.size - advised, os.POSIX_FADV_DONTNEED)
                        advised = self.size
                if closed:
                    return
        except BaseException as exc:  # re-raised in the writer's thread by finish()
            self._error = exc
