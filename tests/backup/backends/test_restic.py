"""The restic backend against real restic (local repository in a temp dir) and real PostgreSQL."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from provisioner.backup.dumpread import iter_dumps
from tests.backup.conftest import Postgres, ResticRepo, base_env, run_script

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def restic_args(repo: ResticRepo) -> list[str]:
    return ["--backend", "restic", "--restic-repo", str(repo.path)]


def test_run_list_verify_prune(restic_repo: ResticRepo, postgres: Postgres, src: Path) -> None:
    env = postgres.env(**restic_repo.credentials())
    made = []
    for day in (0, 1):
        result = run_script(
            "run",
            "--registry",
            "demo",
            "--expires-in-hours",
            "168",
            *restic_args(restic_repo),
            "--source",
            str(src),
            "--pg-database",
            "registry_db",
            "--now",
            iso(T0 + timedelta(days=day)),
            "--format",
            "json",
            *(["--no-prune"] if day == 0 else []),
            env=env,
        )
        assert result.code == 0, result.stderr
        out = result.json()
        assert isinstance(out, dict)
        assert out["backend"] == "restic" and out["pruned"] == []
        made.append(out)
    assert made[0]["id"] == "20261101T120000Z" and made[0]["expiresAt"] == "2026-11-08T12:00:00Z"

    # The snapshot is tagged, and its content is the tar stream we hashed.
    snaps = json.loads(restic_repo.restic("snapshots", "--json", "--tag", "registry=demo"))
    assert len(snaps) == 2
    tags = set(snaps[0]["tags"])
    assert {"registry=demo", "tool=backup-registry"} <= tags
    assert any(t.startswith("expires=") for t in tags) and any(t.startswith("sha256=") for t in tags)
    first = next(s for s in snaps if "backup-id=20261101T120000Z" in s["tags"])
    dump = subprocess.run(
        ["restic", "-r", str(restic_repo.path), "dump", first["id"], "/demo-20261101T120000Z.tar"],
        env=restic_repo.env(),
        capture_output=True,
        check=True,
    ).stdout
    import hashlib

    assert hashlib.sha256(dump).hexdigest() == made[0]["sha256"] and len(dump) == made[0]["sizeBytes"]
    with tarfile.open(fileobj=io.BytesIO(dump)) as tar:
        names = tar.getnames()
        member = tar.extractfile("dirs/src/a.txt")
        assert member is not None and member.read() == b"hello registry\n"
    assert "postgres/registry_db.dump.part-000000" in names
    dumps = {db: data.read() for db, data in iter_dumps(io.BytesIO(dump))}
    assert list(dumps) == ["registry_db"] and dumps["registry_db"].startswith(b"PGDMP")

    listed = run_script("list", "--registry", "demo", *restic_args(restic_repo), "--format", "json", env=env)
    assert listed.code == 0
    assert [b["id"] for b in json.loads(listed.stdout)] == ["20261102T120000Z", "20261101T120000Z"]

    verified = run_script(
        "verify", "--registry", "demo", *restic_args(restic_repo), "--id", "20261101T120000Z", env=env
    )
    assert verified.code == 0 and verified.stdout == "20261101T120000Z  ok\n"

    # Prune with a fixed clock long after both expired: the newest verified one stays.
    result = run_script(
        "prune",
        "--registry",
        "demo",
        *restic_args(restic_repo),
        "--now",
        iso(T0 + timedelta(days=3650)),
        env=env,
    )
    assert result.code == 0, result.stderr
    assert "pruned 20261101T120000Z" in result.stdout
    assert "kept newest verified 20261102T120000Z" in result.stdout
    assert len(json.loads(restic_repo.restic("snapshots", "--json"))) == 1
    # The password never shows up anywhere we print.
    secret = restic_repo.password_file.read_text().strip()
    assert secret not in result.stdout + result.stderr


def test_prune_touches_only_this_registrys_snapshots(
    restic_repo: ResticRepo, src: Path, tmp_path: Path
) -> None:
    # RESTIC_PASSWORD_COMMAND would run a program: the minimal child environment must drop it.
    marker = tmp_path / "ran"
    env = restic_repo.env(RESTIC_PASSWORD_COMMAND=f"touch {marker}")
    for registry in ("demo", "other"):
        result = run_script(
            "run",
            "--registry",
            registry,
            "--expires-in-hours",
            "168",
            *restic_args(restic_repo),
            "--source",
            str(src),
            "--now",
            iso(T0),
            "--no-prune",
            "--no-verify",  # verify-after-write is covered above; restic calls are slow
            env=env,
        )
        assert result.code == 0, result.stderr
    # A snapshot someone else made with a look-alike tag, and one of ours without the tool tag.
    restic_repo.restic("backup", "--tag", "registry=demo", str(src))
    newer = run_script(
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        *restic_args(restic_repo),
        "--source",
        str(src),
        "--now",
        iso(T0 + timedelta(days=1)),
        env=env,
    )
    assert newer.code == 0
    result = run_script(
        "prune",
        "--registry",
        "demo",
        *restic_args(restic_repo),
        "--now",
        iso(T0 + timedelta(days=3650)),
        env=env,
    )
    assert result.code == 0, result.stderr
    snaps = json.loads(restic_repo.restic("snapshots", "--json"))
    by_tags = sorted(
        sorted(t for t in s["tags"] if not t.startswith(("sha256=", "size=", "expires="))) for s in snaps
    )
    assert by_tags == [
        ["backup-id=20261101T120000Z", "registry=other", "tool=backup-registry"],
        ["backup-id=20261102T120000Z", "registry=demo", "tool=backup-registry"],
        ["registry=demo"],
    ]
    assert not marker.exists()


def test_failing_source_leaves_no_snapshot(restic_repo: ResticRepo, postgres: Postgres, src: Path) -> None:
    env = postgres.env(**restic_repo.credentials())
    result = run_script(
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        *restic_args(restic_repo),
        "--source",
        str(src),
        "--pg-database",
        "no_such_db",
        env=env,
    )
    assert result.code == 3
    assert json.loads(restic_repo.restic("snapshots", "--json")) == []


def test_wrong_password_is_a_failure_not_a_leak(restic_repo: ResticRepo, src: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("definitely-wrong-password\n")
    env = base_env(RESTIC_PASSWORD_FILE=str(wrong), RESTIC_CACHE_DIR=str(restic_repo.cache))
    result = run_script(
        "run",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        *restic_args(restic_repo),
        "--source",
        str(src),
        env=env,
    )
    assert result.code == 3
    assert "definitely-wrong-password" not in result.stdout + result.stderr


def test_repository_from_environment_and_missing_password_file(
    restic_repo: ResticRepo, src: Path, tmp_path: Path
) -> None:
    env = restic_repo.env(RESTIC_REPOSITORY=str(restic_repo.path))
    result = run_script("list", "--registry", "demo", "--backend", "restic", env=env)
    assert result.code == 0 and result.stdout == "no backups\n"
    env = base_env(RESTIC_PASSWORD_FILE=str(tmp_path / "missing"), RESTIC_REPOSITORY=str(restic_repo.path))
    result = run_script("list", "--registry", "demo", "--backend", "restic", env=env)
    assert result.code == 1 and "RESTIC_PASSWORD_FILE" in result.stderr
