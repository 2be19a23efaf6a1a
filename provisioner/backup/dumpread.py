"""Reading the PostgreSQL dumps back out of a backup's tar stream (for restore, drills and tests).

A database's dump (``pg_dump --format=custom``) is stored as one or more tar members, in order and
next to each other (see :mod:`provisioner.backup.pgdump`):

* ``postgres/<db>.dump.part-000000``, ``postgres/<db>.dump.part-000001``, ... (archives written
  since the dump is streamed: the dump is the parts' concatenation), or
* ``postgres/<db>.dump`` (one member: archives written before).

:func:`iter_dumps` walks a tar stream once and yields each database with a binary reader of its
whole dump; :func:`read_dumps` does it for an archive file (``.tar.zst``). Nothing is buffered
beyond the tar reader's blocks: a reader must be read (or left) before the next item is taken.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["DUMP_PART", "DUMP_SINGLE", "iter_dumps", "part_name", "read_dumps"]

DUMP_SINGLE = re.compile(r"postgres/([A-Za-z0-9_][A-Za-z0-9_-]{0,62})\.dump", re.ASCII)
DUMP_PART = re.compile(r"postgres/([A-Za-z0-9_][A-Za-z0-9_-]{0,62})\.dump\.part-([0-9]{6})", re.ASCII)


def part_name(database: str, index: int) -> str:
    """The member name of part ``index`` (0-based) of ``database``'s dump."""
    return f"postgres/{database}.dump.part-{index:06d}"


class _Parts(io.RawIOBase):
    """The concatenation of a database's consecutive part members, read from a streaming tarfile."""

    def __init__(self, tar: tarfile.TarFile, first: tarfile.TarInfo, database: str) -> None:
        super().__init__()
        self._tar = tar
        self._database = database
        self._index = 0
        self._member: IO[bytes] | None = tar.extractfile(first)
        self.following: tarfile.TarInfo | None = None  # the first member after the parts

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._member is not None:
            n = self._member.readinto(buffer)  # type: ignore[attr-defined]
            if n:
                return int(n)
            self._advance()
        return 0

    def _advance(self) -> None:
        self._member = None
        nxt = self._tar.next()
        match = DUMP_PART.fullmatch(nxt.name) if nxt is not None else None
        if nxt is not None and match and match.group(1) == self._database:
            self._index += 1
            if int(match.group(2)) != self._index:
                raise ValueError(f"dump of {self._database!r}: part {match.group(2)}, expected {self._index}")
            self._member = self._tar.extractfile(nxt)
        else:
            self.following = nxt

    def drain(self) -> tarfile.TarInfo | None:
        """Skip what is left of the parts; return the member after them."""
        while self._member is not None:
            self._advance()
        return self.following


def iter_dumps(stream: IO[bytes]) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield ``(database, reader)`` for each dump in an uncompressed tar stream, in archive order."""
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        member = tar.next()
        while member is not None:
            part = DUMP_PART.fullmatch(member.name)
            single = DUMP_SINGLE.fullmatch(member.name)
            if part is not None:
                if part.group(2) != "000000":
                    raise ValueError(f"dump of {part.group(1)!r} starts at part {part.group(2)}")
                parts = _Parts(tar, member, part.group(1))
                yield part.group(1), io.BufferedReader(parts, 1024 * 1024)
                member = parts.drain()
            elif single is not None and member.isreg():
                data = tar.extractfile(member)
                assert data is not None
                yield single.group(1), data
                member = tar.next()
            else:
                member = tar.next()


def read_dumps(archive: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """:func:`iter_dumps` over a ``.tar.zst`` archive file."""
    import zstandard

    decompressor = zstandard.ZstdDecompressor()
    with archive.open("rb") as fh, decompressor.stream_reader(fh, read_across_frames=True) as raw:
        yield from iter_dumps(raw)
