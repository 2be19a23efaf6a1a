"""The member-by-member tar reader used by restores: formats, partial reads, truncation, read-ahead."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from provisioner.backup.tarread import iter_members, read_ahead


def _tar(fmt: int, members: list[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_formats_and_partial_reads(fmt: int) -> None:
    long = "dirs/" + "d" * 90 + "/" + "f" * 90 if fmt != tarfile.USTAR_FORMAT else "dirs/short"
    members = [(long, os.urandom(3000)), ("dirs/b", b""), ("dirs/c", os.urandom(1 << 20))]
    seen = []
    for info, data in iter_members(read_ahead(io.BytesIO(_tar(fmt, members)))):
        first = data.read(10)  # a reader may stop early: the rest is skipped
        seen.append((info.name, info.size, first))
    assert seen == [(n, len(d), d[:10]) for n, d in members]
    full = [(i.name, data.read()) for i, data in iter_members(io.BytesIO(_tar(fmt, members)))]
    assert full == members


def test_odd_names_come_back_as_bytes() -> None:
    name = os.fsdecode(b"dirs/new\nline \xff")
    [(info, _)] = list(iter_members(io.BytesIO(_tar(tarfile.PAX_FORMAT, [(name, b"x")]))))
    assert os.fsencode(info.name) == b"dirs/new\nline \xff"


def test_truncated_stream_raises() -> None:
    data = _tar(tarfile.PAX_FORMAT, [("dirs/a", os.urandom(5000))])
    with pytest.raises(tarfile.ReadError):
        for _, member in iter_members(io.BytesIO(data[:2048])):
            member.read()


def test_read_ahead_hands_errors_to_the_reader() -> None:
    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
            raise OSError("disk on fire")

    stream = read_ahead(io.BufferedReader(Failing()))
    with pytest.raises(OSError, match="disk on fire"):
        stream.read(10)
    stream.close()
