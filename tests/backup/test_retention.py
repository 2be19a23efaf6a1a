"""Retention with fixed clocks: what prune deletes, what it keeps, what it refuses to touch."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.backup.cli import main
from provisioner.backup.retention import plan_prune
from provisioner.backup.store import list_backups

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def backup(store: Path, src: Path, at: datetime, hours: int = 168, registry: str = "demo") -> str:
    code = main(
        [
            "run",
            "--registry",
            registry,
            "--expires-in-hours",
            str(hours),
            "--source",
            str(src),
            "--store",
            str(store),
            "--now",
            iso(at),
            "--no-prune",
        ]
    )
    assert code == 0
    return at.strftime("%Y%m%dT%H%M%SZ")


def prune(store: Path, now: datetime, capsys: pytest.CaptureFixture[str], registry: str = "demo") -> str:
    capsys.readouterr()
    assert main(["prune", "--registry", registry, "--store", str(store), "--now", iso(now)]) == 0
    return capsys.readouterr().out


def ids(store: Path, registry: str = "demo") -> list[str]:
    return [r.id for r in list_backups(store, registry)]


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def three(src: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    store = tmp_path / "store"
    made = [backup(store, src, T0 + timedelta(days=d)) for d in range(3)]
    return store, made


def test_deletes_only_expired(three: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    store, made = three
    out = prune(store, T0 + timedelta(days=7, hours=12), capsys)  # only the first has expired
    assert out.splitlines()[0] == f"pruned {made[0]}"
    assert ids(store) == [made[2], made[1]]
    out = prune(store, T0 + timedelta(days=7, hours=12), capsys)  # idempotent
    assert "pruned" not in out.replace("kept newest verified", "")
    assert ids(store) == [made[2], made[1]]


def test_expiry_boundary_is_inclusive(
    three: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    store, made = three
    prune(store, T0 + timedelta(days=7) - timedelta(seconds=1), capsys)
    assert len(ids(store)) == 3
    prune(store, T0 + timedelta(days=7), capsys)
    assert ids(store) == [made[2], made[1]]


def test_never_the_newest_verified(three: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    store, made = three
    out = prune(store, T0 + timedelta(days=3650), capsys)  # everything expired long ago
    assert ids(store) == [made[2]]
    assert f"kept newest verified {made[2]}" in out


def test_corrupt_latest_does_not_cost_the_last_good_backup(
    three: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    store, made = three
    corrupt(store / "demo" / f"{made[2]}.tar.zst")
    out = prune(store, T0 + timedelta(days=3650), capsys)
    assert ids(store) == [made[1]]  # the newest whose checksum matches survives
    assert f"kept newest verified {made[1]}" in out


def test_nothing_verified_deletes_only_expired(
    three: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    store, made = three
    for backup_id in made:
        corrupt(store / "demo" / f"{backup_id}.tar.zst")
    prune(store, T0 + timedelta(days=8, hours=1), capsys)  # first two expired, last not
    assert ids(store) == [made[2]]


def test_run_prunes_after_backup_unless_no_prune(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    old = backup(store, src, T0)
    args = [
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        "--source",
        str(src),
        "--store",
        str(store),
        "--format",
        "json",
    ]
    capsys.readouterr()
    assert main([*args, "--now", iso(T0 + timedelta(days=10)), "--no-prune"]) == 0
    assert json.loads(capsys.readouterr().out)["pruned"] == []
    assert main([*args, "--now", iso(T0 + timedelta(days=11))]) == 0
    assert json.loads(capsys.readouterr().out)["pruned"] == [old]


def test_other_registries_untouched(src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    backup(store, src, T0, registry="demo")
    other = [backup(store, src, T0 + timedelta(days=d), registry="other") for d in range(2)]
    prune(store, T0 + timedelta(days=3650), capsys, registry="demo")
    assert ids(store, "other") == list(reversed(other))


def test_unaccounted_files_reported_not_deleted(
    three: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, made = three
    folder = store / "demo"
    outside = tmp_path / "outside.tar.zst"
    outside.write_bytes(b"precious")
    (folder / "notes.txt").write_text("operator")
    (folder / "20261001T000000Z.tar.zst").symlink_to(outside)  # symlinked archive with plausible metadata
    meta = json.loads((folder / f"{made[0]}.json").read_text())
    meta.update(
        id="20261001T000000Z",
        archive="20261001T000000Z.tar.zst",
        expiresAt="2026-10-08T00:00:00Z",
        createdAt="2026-10-01T00:00:00Z",
    )
    (folder / "20261001T000000Z.json").write_text(json.dumps(meta))
    (folder / "20261002T000000Z.json").write_text("{not json")  # unreadable metadata
    (folder / "20261002T000000Z.tar.zst").write_bytes(b"whatever")
    wrong = dict(meta, registry="other", id="20261003T000000Z", archive="20261003T000000Z.tar.zst")
    (folder / "20261003T000000Z.json").write_text(json.dumps(wrong))  # names another registry
    (folder / "20261003T000000Z.tar.zst").write_bytes(b"x")
    (folder / "subdir").mkdir()
    (folder / "link-out").symlink_to(tmp_path)
    out = prune(store, T0 + timedelta(days=3650), capsys)
    assert ids(store) == [made[2]]
    for name in (
        "notes.txt",
        "20261001T000000Z.tar.zst",
        "20261001T000000Z.json",
        "20261002T000000Z.json",
        "20261002T000000Z.tar.zst",
        "20261003T000000Z.json",
        "20261003T000000Z.tar.zst",
        "subdir",
        "link-out",
    ):
        assert os.path.lexists(folder / name), name
        assert f"not deleted (not ours): '{name}'" in out
    assert outside.read_bytes() == b"precious"
    assert tmp_path.is_dir()


def test_interrupted_prune_is_finished_by_the_next_run(
    three: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    store, made = three
    folder = store / "demo"
    # What a crash between the two steps of a deletion leaves: metadata renamed to a tombstone.
    os.rename(folder / f"{made[0]}.json", folder / f".backup-registry-tmp-delete-{made[0]}.json")
    assert ids(store) == [made[2], made[1]]
    prune(store, T0 + timedelta(days=1), capsys)
    assert sorted(p.name for p in folder.iterdir() if made[0] in p.name) == []


def test_symlinked_registry_folder_refused(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (store / "demo").symlink_to(tmp_path / "elsewhere")
    assert main(["prune", "--registry", "demo", "--store", str(store)]) == 1
    assert (
        main(
            [
                "run",
                "--registry",
                "demo",
                "--expires-in-hours",
                "168",
                "--source",
                str(src),
                "--store",
                str(store),
            ]
        )
        == 1
    )
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_disabled_job_keeps_backups(three: tuple[Path, list[str]]) -> None:
    """Only `run` and `prune` delete: listing and verifying never do, whatever the clock."""
    store, made = three
    assert main(["list", "--registry", "demo", "--store", str(store)]) == 0
    assert main(["verify", "--registry", "demo", "--store", str(store)]) == 0
    assert ids(store) == list(reversed(made))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 100), st.booleans()), max_size=12, unique_by=lambda t: t[0]),
    st.integers(0, 120),
)
def test_plan_prune_properties(items: list[tuple[int, bool]], now: int) -> None:
    plan = plan_prune(
        items,
        key=lambda i: f"{i[0]:04d}",
        expires=lambda i: T0 + timedelta(days=i[0] + 7),
        verified=lambda i: i[1],
        now=T0 + timedelta(days=now),
    )
    good = sorted((i for i in items if i[1]), reverse=True)
    newest_good = f"{good[0][0]:04d}" if good else None
    assert plan.keep_newest_verified == newest_good
    assert newest_good not in plan.delete
    for i in items:
        expired = T0 + timedelta(days=i[0] + 7) <= T0 + timedelta(days=now)
        assert (f"{i[0]:04d}" in plan.delete) == (expired and f"{i[0]:04d}" != newest_good)
