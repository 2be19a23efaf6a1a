"""_fs.atomic_write_bytes, the one atomic write, and the writers built on it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from provisioner._fs import TEMP_PREFIX, atomic_write_bytes, atomic_write_json, write_text_atomically
from provisioner.errors import UsageError


def test_replace_keeps_the_old_file_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "config.xml"
    target.write_bytes(b"old")

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(tmp_path, target.name, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.xml"]  # no temp file left


def test_replace_sets_the_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_bytes(tmp_path, target.name, b"{}", mode=0o640)
    assert target.read_bytes() == b"{}"
    assert target.stat().st_mode & 0o777 == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_json_writer_is_private(tmp_path: Path) -> None:
    path = atomic_write_json(tmp_path, "meta.json", {"b": 1, "a": [2]})
    assert json.loads(path.read_text()) == {"a": [2], "b": 1}
    assert path.stat().st_mode & 0o777 == 0o600


def test_text_writer_keeps_mode_and_refuses_non_files(tmp_path: Path) -> None:
    target = tmp_path / "values.yaml"
    target.write_text("a: 1\n")
    target.chmod(0o664)
    write_text_atomically(target, "a: 2\n")
    assert target.read_text() == "a: 2\n" and target.stat().st_mode & 0o777 == 0o664
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    with pytest.raises(UsageError, match="not a regular file"):
        write_text_atomically(link, "x")
    assert link.is_symlink() and target.read_text() == "a: 2\n"
