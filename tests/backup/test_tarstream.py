"""The tar stream of a source tree: files that change while read (a warning as GNU tar gives, a valid
archive) and hostile trees (FIFOs, symlinks out, odd names) archived as data."""

from __future__ import annotations

import io
import json
import logging
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from provisioner.backup.errors import BackupFailed
from provisioner.backup.logs import LOG, JsonLineFormatter, Progress
from provisioner.backup.tarstream import TarWriter


class _Output:
    """Collects the tar stream; calls ``during`` once, when the file's first data chunk is written."""

    def __init__(self, during: Callable[[], None]) -> None:
        self.data = io.BytesIO()
        self._during: Callable[[], None] | None = during
        self._writes = 0

    def write(self, data: bytes | memoryview, /) -> int:
        self._writes += 1
        if self._writes == 3 and self._during is not None:  # root dir header, file header, file data
            self._during()
            self._during = None
        return self.data.write(data)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    LOG.addHandler(handler)
    level = LOG.level
    LOG.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        LOG.removeHandler(handler)
        LOG.setLevel(level)


def _records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _write(root: Path, during: Callable[[], None]) -> bytes:
    out = _Output(during)
    tar = TarWriter(out, Progress("test", io.StringIO()), chunk=4096)
    tar.add_tree(root, "dirs/src")
    tar.close()
    return out.data.getvalue()


def test_a_file_that_grows_while_read_is_a_warning_and_the_archive_stays_valid(
    tmp_path: Path, logs: io.StringIO
) -> None:
    root = tmp_path / "src"
    root.mkdir()
    log = root / "app.log"
    first = b"line\n" * 3000
    log.write_bytes(first)

    def grow() -> None:
        with log.open("ab") as fh:
            fh.write(b"appended while the backup ran\n")

    data = _write(root, grow)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        member = tar.getmember("dirs/src/app.log")
        extracted = tar.extractfile(member)
        assert extracted is not None
        assert member.size == len(first) and extracted.read() == first  # the size at header time
    warnings = [r for r in _records(logs) if r["level"] == "warning"]
    assert warnings == [
        {
            "ts": warnings[0]["ts"],
            "level": "warning",
            "msg": "file changed as we read it",
            "path": str(log),
            "archivedBytes": len(first),
            "sizeNow": len(first) + 30,
        }
    ]


def test_an_unchanged_file_gives_no_warning(tmp_path: Path, logs: io.StringIO) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "f").write_bytes(b"x" * 10000)
    _write(root, lambda: None)
    assert [r for r in _records(logs) if r["level"] == "warning"] == []


def test_a_file_that_shrinks_while_read_fails_the_backup(tmp_path: Path) -> None:
    """GNU tar pads a shrunk file with zeros and exits 1; a backup must not hold invented bytes."""
    root = tmp_path / "src"
    root.mkdir()
    f = root / "db.bin"
    f.write_bytes(b"y" * 20000)
    with pytest.raises(BackupFailed, match=r"db\.bin shrank"):
        _write(root, lambda: f.write_bytes(b"y" * 10))


def test_hostile_source_trees_are_archived_as_they_are(tmp_path: Path, logs: io.StringIO) -> None:
    """A backup source is data, not instructions: a FIFO is skipped (never opened, so it cannot block
    the run), a symlink is archived as a link (its target is not read, even outside the source), and
    names with a line break or bytes that are not UTF-8 survive exactly."""
    outside = tmp_path / "outside-secret"
    outside.write_bytes(b"not part of the backup")
    root = tmp_path / "src"
    root.mkdir()
    os.mkfifo(root / "pipe")
    (root / "escape").symlink_to(outside)
    (root / "line\nbreak").write_bytes(b"a")
    odd = os.fsdecode(b"latin1-\xe9")
    (root / odd).write_bytes(b"b")
    data = _write(root, lambda: None)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", encoding="utf-8", errors="surrogateescape") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == sorted(
        ["dirs/src", "dirs/src/escape", "dirs/src/line\nbreak", f"dirs/src/{odd}"]
    )
    assert members["dirs/src/escape"].issym() and members["dirs/src/escape"].linkname == str(outside)
    assert b"not part of the backup" not in data
    assert [(r["msg"], r["path"]) for r in _records(logs) if r["level"] == "warning"] == [
        ("skipped special file", str(root / "pipe"))
    ]
