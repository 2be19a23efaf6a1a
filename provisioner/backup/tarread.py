"""Reading a tar stream member by member, with the data read straight into the caller's buffer.

``tarfile`` parses the headers (``TarInfo.fromtarfile``: ustar, PAX and GNU long names, header
checksums), given a small stand-in for a ``TarFile`` that reads from our stream. The member data
does not go through ``tarfile``'s stream buffer, which joins and slices a bytes object for every
read (three copies of each chunk, about 2 s per GiB on the 2-core machine): :class:`MemberData`
reads it with ``readinto`` from the stream directly. Like ``tarfile``, a member's size counts only
for regular files (and unknown types); after each member the rest of its data and its padding are
skipped, so a reader may stop early.

:func:`read_ahead` moves the producer (reading the file, SHA-256, zstd) to a thread with a bounded
queue of chunks, so decompressing and writing overlap on two cores (hashlib, zstandard and file
I/O release the GIL).
"""

from __future__ import annotations

import io
import queue
import tarfile
import threading
from collections.abc import Iterator
from typing import IO, cast

__all__ = ["MemberData", "iter_members", "read_ahead"]

_BLOCK = tarfile.BLOCKSIZE
_CHUNK = 1024 * 1024


class _Counted:
    """Exact reads from a stream, counting the position (what ``TarInfo.fromtarfile`` needs)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.position = 0

    def read(self, size: int) -> bytes:
        parts = []
        want = size
        while want > 0:
            data = self._stream.read(want)
            if not data:
                break
            parts.append(data)
            want -= len(data)
        out = b"".join(parts)
        self.position += len(out)
        return out

    def readinto(self, view: memoryview) -> int:
        n = self._stream.readinto(view)  # type: ignore[attr-defined]
        self.position += int(n or 0)
        return int(n or 0)

    def tell(self) -> int:
        return self.position

    def skip(self, size: int) -> None:
        scratch = memoryview(bytearray(min(size, _CHUNK))) if size else memoryview(b"")
        while size > 0:
            n = self.readinto(scratch[: min(size, len(scratch))])
            if n == 0:
                raise tarfile.ReadError("unexpected end of data")
            size -= n


class _TarFileStandIn:
    """The attributes ``TarInfo.fromtarfile`` reads from a TarFile."""

    def __init__(self, fileobj: _Counted) -> None:
        self.fileobj = fileobj
        self.encoding = "utf-8"
        self.errors = "surrogateescape"
        self.pax_headers: dict[str, str] = {}
        self.offset = 0


class MemberData(io.RawIOBase):
    """The data of one member: at most ``size`` bytes, read straight from the stream."""

    def __init__(self, source: _Counted, size: int) -> None:
        super().__init__()
        self._source = source
        self.remaining = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.remaining <= 0:
            return 0
        view = memoryview(buffer)
        n = self._source.readinto(view[: min(len(view), self.remaining)])
        if n == 0:
            raise tarfile.ReadError("unexpected end of data inside a member")
        self.remaining -= n
        return n


def iter_members(stream: IO[bytes]) -> Iterator[tuple[tarfile.TarInfo, IO[bytes]]]:
    """Yield each member with its data reader (valid until the next member is taken)."""
    source = _Counted(stream)
    standin = _TarFileStandIn(source)
    while True:
        try:
            info = tarfile.TarInfo.fromtarfile(standin)  # type: ignore[arg-type]
        except (tarfile.EOFHeaderError, tarfile.EmptyHeaderError):  # type: ignore[attr-defined]
            return  # the end-of-archive zero block (what follows is checked by the caller's drain)
        has_data = info.isreg() or info.type not in tarfile.SUPPORTED_TYPES
        size = info.size if has_data else 0
        data = MemberData(source, size)
        yield info, cast(IO[bytes], data)
        source.skip(data.remaining + (-size % _BLOCK))


class _ReadAhead(io.RawIOBase):
    def __init__(self, stream: IO[bytes], depth: int) -> None:
        super().__init__()
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(depth)
        self._stop = threading.Event()
        self._current = memoryview(b"")
        self._done = False
        self._thread = threading.Thread(target=self._produce, args=(stream,), daemon=True)
        self._thread.start()

    def _produce(self, stream: IO[bytes]) -> None:
        item: bytes | BaseException | None
        try:
            while not self._stop.is_set():
                item = stream.read(_CHUNK)
                if not item:
                    item = None
                    break
                self._put(item)
            else:
                return
        except BaseException as exc:  # handed to the reader, raised there
            item = exc
        self._put(item)

    def _put(self, item: bytes | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._current:
            if self._done:
                return 0
            item = self._queue.get()
            if item is None:
                self._done = True
                self._thread.join()
                return 0
            if isinstance(item, BaseException):
                self._done = True
                raise item
            self._current = memoryview(item)
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        super().close()


def read_ahead(stream: IO[bytes], depth: int = 8) -> IO[bytes]:
    """``stream`` read by a thread, ``depth`` chunks of 1 MiB ahead (bounded memory)."""
    return io.BufferedReader(_ReadAhead(stream, depth), _CHUNK)
