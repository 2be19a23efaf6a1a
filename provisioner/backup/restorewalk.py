"""One pass over a backup's tar stream: check every member, and restore it when asked.

:func:`walk` is used twice by a restore: once to *check* (nothing written: every member passes
:class:`~provisioner.backup.untar.MemberRules`, every dump's table of contents is read by
``pg_restore --list``, which stops there; the rest of each dump is decompressed to its end, so the
zstd frame checksums and the archive's size and SHA-256 cover every byte) and once to *restore*
(directories into a temp tree, dumps into temp databases), which checks everything again as it
goes, since the stored bytes may have changed in between. A restore of directories only (and no
``--dry-run``) makes the second pass alone: nothing it wrote becomes visible before the stream has
verified to its end.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, cast

from provisioner.backup.errors import VerifyFailed
from provisioner.backup.pgrestore import PgServer
from provisioner.backup.tarread import iter_members
from provisioner.backup.tarsource import TarSource
from provisioner.backup.untar import MemberRules, TreeWriter, dump_database

__all__ = ["Inventory", "walk"]

_MANIFEST_LIMIT = 256 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass
class Inventory:
    """What a pass saw (and, when restoring, wrote)."""

    trees: dict[str, list[int]] = field(default_factory=dict)  # source name -> [entries, bytes]
    dumps: dict[str, int] = field(default_factory=dict)  # database -> entries (check) or dump bytes
    restored_dbs: dict[str, str] = field(default_factory=dict)  # database -> temp database
    digests: dict[bytes, tuple[int, str]] = field(default_factory=dict)  # path -> (size, sha256)
    manifest: object | None = None


def _read_manifest(data: IO[bytes], size: int) -> object:
    if size > _MANIFEST_LIMIT:
        raise VerifyFailed(f"manifest.json is {size} bytes, more than {_MANIFEST_LIMIT}")
    chunks, left = [], size
    while left > 0:
        chunk = data.read(min(left, _CHUNK))
        if not chunk:
            raise VerifyFailed("manifest.json is truncated")
        chunks.append(chunk)
        left -= len(chunk)
    try:
        return json.loads(b"".join(chunks))
    except ValueError as exc:
        raise VerifyFailed(f"manifest.json is not valid JSON: {exc}") from exc


class _Members:
    """The member iterator with one step of push-back (a dump's parts reader looks one ahead)."""

    def __init__(self, members: Iterator[tuple[tarfile.TarInfo, IO[bytes]]]) -> None:
        self._members = members
        self._pushed: list[tuple[tarfile.TarInfo, IO[bytes]]] = []

    def __iter__(self) -> _Members:
        return self

    def __next__(self) -> tuple[tarfile.TarInfo, IO[bytes]]:
        return self._pushed.pop() if self._pushed else next(self._members)

    def push(self, item: tuple[tarfile.TarInfo, IO[bytes]]) -> None:
        self._pushed.append(item)


class _DumpParts(io.RawIOBase):
    """One database's dump stored as consecutive part members, read as one stream."""

    def __init__(self, members: _Members, rules: MemberRules, database: str, first: IO[bytes]) -> None:
        super().__init__()
        self._members, self._rules, self._database = members, rules, database
        self._current: IO[bytes] | None = first
        self._index = 0
        self._read = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._read

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._current is not None:
            n = self._current.readinto(buffer)  # type: ignore[attr-defined]
            if n:
                self._read += n
                return int(n)
            self._advance()
        return 0

    def _advance(self) -> None:
        self._current = None
        item = next(self._members, None)
        if item is None:
            return
        found = dump_database(item[0].name)
        if found is None or found[0] != self._database or found[1] is None:
            self._members.push(item)
            return
        self._index += 1
        if found[1] != self._index:
            raise VerifyFailed(
                f"the dump of database {self._database!r}: part {found[1]}, expected {self._index}"
            )
        if self._rules.check(item[0]) != "dump":
            raise VerifyFailed(f"unexpected member {item[0].name!r}")
        self._current = item[1]

    def drain(self) -> None:
        """Skip what is left of the parts (``pg_restore --list`` stops after the table of contents)."""
        while self._current is not None:
            self._advance()


def walk(
    source: TarSource,
    *,
    writer: TreeWriter | None = None,
    pg: Callable[[], PgServer] | None = None,
    restore_dbs: bool = False,
    digests: bool = False,
    inventory: Inventory | None = None,
) -> Inventory:
    """Read the whole stream (``source.finish()`` included); see the module docstring.

    ``pg`` makes the server on first use (only backups with dumps need psql and pg_restore). When
    ``restore_dbs`` is set each dump is restored into a temp database (``Inventory.restored_dbs``:
    the caller renames them into place, or drops them on failure, also when this raises: pass your
    own ``inventory`` to see them then).
    """
    inventory = inventory if inventory is not None else Inventory()
    rules = MemberRules()
    if writer is not None:
        source.read_ahead()  # decompressing overlaps writing files (nothing to overlap otherwise)
    try:
        members = _Members(iter_members(source.stream))
        for member, data in members:
            kind = rules.check(member)
            if kind in ("dir", "file", "symlink"):
                name = os.fsencode(member.name).split(b"/")[1].decode("utf-8", "surrogateescape")
                counts = inventory.trees.setdefault(name, [0, 0])
                counts[0] += 1
                counts[1] += member.size if kind == "file" else 0
                if writer is not None:
                    digest = writer.write(member, kind, data if kind == "file" else None, digest=digests)
                    if kind == "file" and digests:
                        inventory.digests[os.fsencode(member.name)] = (member.size, digest)
            elif kind == "dump":
                found = dump_database(member.name)
                assert found is not None
                database, part = found
                if pg is None:
                    raise VerifyFailed(f"unexpected database dump {member.name!r} in the backup")
                if database in inventory.dumps or database in inventory.restored_dbs:
                    raise VerifyFailed(f"the dump of database {database!r} appears twice")
                if part not in (None, 0):
                    raise VerifyFailed(f"the dump of database {database!r} starts at part {part}")
                parts = None if part is None else _DumpParts(members, rules, database, data)
                dump = data if parts is None else cast(IO[bytes], parts)  # read with readinto
                if restore_dbs:
                    inventory.restored_dbs[database] = pg().restore(dump, database)
                    inventory.dumps[database] = member.size if parts is None else parts.tell()
                else:
                    inventory.dumps[database] = pg().check_dump(dump, database)
                if parts is not None:
                    parts.drain()
            elif kind == "manifest":
                inventory.manifest = _read_manifest(data, member.size)
        if writer is not None:
            writer.finish()
    except (tarfile.TarError, EOFError) as exc:
        raise VerifyFailed(f"{source.label}: not a readable tar stream: {exc}") from exc
    except VerifyFailed:
        raise
    except Exception as exc:
        import zstandard

        if isinstance(exc, zstandard.ZstdError):
            raise VerifyFailed(f"{source.label}: zstd: {exc}") from exc
        raise
    source.finish()
    return inventory
