"""Leftover cleanup deletes only what backup-registry could have left: crafted names are not obeyed.

A run (and a prune) first finishes what an interrupted run left in the registry folder: temp files,
pending markers, tombstones of half-done deletions. Someone who can create files in the folder
must not be able to steer that cleanup at files the tool did not make (a confused deputy). Each
case plants crafted files next to real backups, runs `run` and `prune`, and compares the folder's
listing and every file's content before and after (as tests/backup/test_hostile.py does).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.backup.cli import main
from provisioner.backup.store import list_backups

T = ".backup-registry-tmp-"
OLD, NEW = "20261101T000000Z", "20261102T000000Z"


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry with its content (a symlink: its target), except the lock and the newest backup."""
    out: dict[str, bytes | str] = {}
    for entry in folder.iterdir():
        if entry.is_symlink():
            out[entry.name] = "-> " + os.readlink(entry)
        elif entry.is_file():
            out[entry.name] = entry.read_bytes()
        else:
            out[entry.name] = "dir"
    return out


def _backup(store: Path, src: Path, backup_id: str) -> None:
    now = f"{backup_id[:4]}-{backup_id[4:6]}-{backup_id[6:8]}T00:00:00Z"
    argv = ["run", "--registry", "demo", "--expires-in-hours", "87600", "--source", str(src)]
    assert main([*argv, "--store", str(store), "--now", now, "--no-prune"]) == 0


def _foreign_archive_named_by_a_tombstone(folder: Path) -> None:
    (folder / "foreign.tar.zst").write_bytes(b"an operator's archive")
    (folder / f"{T}delete-foreign.json").write_bytes(b"{}")


def _foreign_archive_with_an_id_name_and_a_junk_tombstone(folder: Path) -> None:
    (folder / "20261020T000000Z.tar.zst").write_bytes(b"an operator's archive")
    (folder / f"{T}delete-20261020T000000Z.json").write_bytes(b"{}")


def _tombstone_copied_from_a_live_backup(folder: Path) -> None:
    shutil.copyfile(folder / f"{OLD}.json", folder / f"{T}delete-{OLD}.json")


def _tombstone_with_valid_metadata_for_another_archive(folder: Path) -> None:
    meta = json.loads((folder / f"{OLD}.json").read_text())
    meta.update(id="20261020T000000Z", archive="20261020T000000Z.tar.zst")
    (folder / f"{T}delete-20261020T000000Z.json").write_text(json.dumps(meta))
    (folder / "20261020T000000Z.tar.zst").write_bytes(b"an operator's archive")


def _tombstone_pointing_through_a_symlink(folder: Path) -> None:
    outside = folder.parent.parent / "outside.tar.zst"
    outside.write_bytes(b"precious")
    (folder / "20261020T000000Z.tar.zst").symlink_to(outside)
    meta = json.loads((folder / f"{OLD}.json").read_text())
    meta.update(id="20261020T000000Z", archive="20261020T000000Z.tar.zst")
    (folder / f"{T}delete-20261020T000000Z.json").write_text(json.dumps(meta))


def _names_with_our_prefix_that_we_never_make(folder: Path) -> None:
    for name in (
        f"{T}notes.txt",
        f"{T}pending-foreign",
        f"{T}pending-{OLD}.tar.zst",
        f"{T}delete-{OLD}.tar.zst",
        f"{T}{OLD}.tar.zst",  # no random suffix
        f"{T}{OLD}.tar.zst.ABCDEF123456",  # the suffix is lowercase hex
        f"{T}foreign.tar.zst.0123456789ab",
        f"{T}{OLD}.txt.0123456789ab",
    ):
        (folder / name).write_bytes(b"not made by backup-registry")


CRAFTED: dict[str, Callable[[Path], None]] = {
    f.__name__.lstrip("_"): f
    for f in (
        _foreign_archive_named_by_a_tombstone,
        _foreign_archive_with_an_id_name_and_a_junk_tombstone,
        _tombstone_copied_from_a_live_backup,
        _tombstone_with_valid_metadata_for_another_archive,
        _tombstone_pointing_through_a_symlink,
        _names_with_our_prefix_that_we_never_make,
    )
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
@pytest.mark.parametrize("command", ["run", "prune"])
def test_crafted_leftovers_delete_nothing_foreign(
    case: str, command: str, src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    folder = store / "demo"
    _backup(store, src, OLD)
    CRAFTED[case](folder)
    outside = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    before = _snapshot(folder)
    if command == "run":
        _backup(store, src, NEW)
    else:
        assert (
            main(["prune", "--registry", "demo", "--store", str(store), "--now", "2026-11-03T00:00:00Z"]) == 0
        )
    after = _snapshot(folder)
    added = {name for name in after if name not in before}
    assert added <= {f"{NEW}.json", f"{NEW}.tar.zst"}, capsys.readouterr().err
    assert {n: after[n] for n in before} == before, capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == outside
    assert OLD in [r.id for r in list_backups(store, "demo")]


@pytest.mark.parametrize("archive_gone", [False, True])
def test_a_real_interrupted_deletion_is_still_finished(
    archive_gone: bool, src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tombstone a crashed prune leaves (the renamed metadata) still removes its archive."""
    store = tmp_path / "store"
    folder = store / "demo"
    _backup(store, src, OLD)
    os.rename(folder / f"{OLD}.json", folder / f"{T}delete-{OLD}.json")
    if archive_gone:  # the crash came after the archive's unlink
        (folder / f"{OLD}.tar.zst").unlink()
    _backup(store, src, NEW)
    assert sorted(p.name for p in folder.iterdir()) == [".lock", f"{NEW}.json", f"{NEW}.tar.zst"]
    assert "removed leftovers of an interrupted run" in capsys.readouterr().err
