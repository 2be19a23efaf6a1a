"""The velero backend against a fake `velero` on PATH that records argv and answers like Velero."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.backup.conftest import base_env, run_script
from tests.backup.fake_velero import install


@pytest.fixture
def velero(tmp_path: Path) -> tuple[Path, Path]:
    state = tmp_path / "velero-state.json"
    exe = install(tmp_path / "bin", state)
    return exe, state


def calls(state: Path) -> list[dict[str, object]]:
    return json.loads(state.read_text())["calls"]  # type: ignore[no-any-return]


def env_with(exe: Path, **extra: str) -> dict[str, str]:
    return base_env(PATH=f"{exe.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}", **extra)


def test_run_pins_the_exact_argv(velero: tuple[Path, Path]) -> None:
    exe, state = velero
    env = env_with(
        exe,
        KUBECONFIG="/etc/kube/config",
        SECRET_TOKEN="must-not-leak",
        REGISTRY_NAME="demo",
        EXPIRES_IN_HOURS="720",
    )
    result = run_script(
        "run", "--backend", "velero", "--now", "2026-11-22T19:30:00Z", "--format", "json", env=env
    )
    assert result.code == 0, result.stderr
    recorded = calls(state)
    assert [c["argv"] for c in recorded] == [
        [
            "backup",
            "create",
            "demo-20261122t193000z",
            "--include-namespaces",
            "demo",
            "--ttl",
            "720h0m0s",
            "--labels",
            "registry=demo",
            "--wait",
        ],
        ["backup", "get", "demo-20261122t193000z", "-o", "json"],
    ]
    # A minimal environment: KUBECONFIG passes, nothing else from the job does.
    for call in recorded:
        env_names = call["env"]
        assert isinstance(env_names, list)
        assert (
            "KUBECONFIG" in env_names and "SECRET_TOKEN" not in env_names and "REGISTRY_NAME" not in env_names
        )
    out = result.json()
    assert isinstance(out, dict)
    assert out["backend"] == "velero" and out["id"] == "demo-20261122t193000z"
    assert out["sha256"] is None and out["sizeBytes"] is None and out["pruned"] == []
    assert list(out) == [
        "registry",
        "id",
        "backend",
        "createdAt",
        "expiresAt",
        "sha256",
        "sizeBytes",
        "pruned",
    ]


def test_namespace_override_and_long_registry_names(velero: tuple[Path, Path]) -> None:
    exe, state = velero
    registry = "r" * 63
    result = run_script(
        "run",
        "--backend",
        "velero",
        "--registry",
        registry,
        "--expires-in-hours",
        "168",
        "--k8s-namespace",
        "registry-ns",
        "--now",
        "2026-11-22T19:30:00Z",
        env=env_with(exe),
    )
    assert result.code == 0, result.stderr
    argv = calls(state)[0]["argv"]
    assert isinstance(argv, list)
    assert len(argv[2]) <= 63 and argv[2].endswith("-20261122t193000z")
    assert argv[3:5] == ["--include-namespaces", "registry-ns"]
    assert argv[7:9] == ["--labels", f"registry={registry}"]


@pytest.mark.parametrize("phase", ["PartiallyFailed", "Failed", "FailedValidation", "InProgress"])
def test_phase_other_than_completed_fails(tmp_path: Path, phase: str) -> None:
    exe = install(tmp_path / "bin", tmp_path / "state.json", phase=phase)
    result = run_script(
        "run", "--backend", "velero", "--registry", "demo", "--expires-in-hours", "168", env=env_with(exe)
    )
    assert result.code == 3
    assert f"ended in phase '{phase}'" in result.stderr


def test_velero_error_exit(tmp_path: Path) -> None:
    exe = install(tmp_path / "bin", tmp_path / "state.json", exit_code=1)
    result = run_script(
        "run", "--backend", "velero", "--registry", "demo", "--expires-in-hours", "168", env=env_with(exe)
    )
    assert result.code == 3
    assert "velero backup create failed (exit 1)" in result.stderr


def test_list_verify_prune(velero: tuple[Path, Path]) -> None:
    exe, state = velero
    env = env_with(exe)
    for now in ("2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"):
        assert (
            run_script(
                "run",
                "--backend",
                "velero",
                "--registry",
                "demo",
                "--expires-in-hours",
                "168",
                "--now",
                now,
                env=env,
            ).code
            == 0
        )
    assert (
        run_script(
            "run", "--backend", "velero", "--registry", "other", "--expires-in-hours", "168", env=env
        ).code
        == 0
    )
    listed = run_script("list", "--backend", "velero", "--registry", "demo", "--format", "json", env=env)
    assert listed.code == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert sorted(i["id"] for i in items) == ["demo-20261120t100000z", "demo-20261121t100000z"]
    assert all(set(i) == {"id", "createdAt", "expiresAt", "sha256", "sizeBytes"} for i in items)
    verified = run_script("verify", "--backend", "velero", "--registry", "demo", env=env)
    assert verified.code == 0 and verified.stdout.count(" ok") == 2
    single = run_script("verify", "--backend", "velero", "--registry", "other", "--id", "nope", env=env)
    assert single.code == 3
    before = len(calls(state))
    pruned = run_script(
        "prune", "--backend", "velero", "--registry", "demo", "--now", "2030-01-01T00:00:00Z", env=env
    )
    assert pruned.code == 0
    assert len(calls(state)) == before  # Velero's GC expires backups (TTL): prune runs nothing


def test_velero_missing_from_path(tmp_path: Path) -> None:
    result = run_script(
        "run",
        "--backend",
        "velero",
        "--registry",
        "demo",
        "--expires-in-hours",
        "168",
        env=base_env(PATH=str(tmp_path)),
    )
    assert result.code == 3
    assert "velero not found on PATH" in result.stderr


def _set_state(state: Path, **changes: object) -> None:
    data = json.loads(state.read_text())
    data.update(changes)
    state.write_text(json.dumps(data))


def test_restore_pins_the_argv_into_a_new_namespace(velero: tuple[Path, Path]) -> None:
    exe, state = velero
    env = env_with(exe, KUBECONFIG="/etc/kube/config", SECRET_TOKEN="must-not-leak")
    for now in ("2026-11-20T19:30:00Z", "2026-11-21T19:30:00Z"):
        made = run_script("run", "--backend", "velero", "--registry", "demo", "--expires-in-hours", "168",
                          "--now", now, env=env)  # fmt: skip
        assert made.code == 0, made.stderr
    _set_state(state, calls=[])
    result = run_script("restore", "--backend", "velero", "--registry", "demo", "--latest",
                        "--format", "json", env=env)  # fmt: skip
    assert result.code == 0, result.stderr
    argv = [c["argv"] for c in calls(state)]
    assert argv[0] == ["backup", "get", "-l", "registry=demo", "-o", "json"]
    create = argv[1]
    assert create[:3] == ["restore", "create", create[2]] and create[2].startswith("demo-restore-")
    assert create[3:] == ["--from-backup", "demo-20261121t193000z", "--namespace-mappings",
                          f"demo:{json.loads(result.stdout)['namespace']['target']}", "--wait"]  # fmt: skip
    assert argv[2] == ["restore", "get", create[2], "-o", "json"]
    target = json.loads(result.stdout)["namespace"]["target"]
    assert target.startswith("demo-restored-") and len(target) <= 63
    assert all("SECRET_TOKEN" not in c["env"] for c in calls(state))
    # an explicit namespace and an explicit backup
    result = run_script("restore", "--backend", "velero", "--registry", "demo",
                        "--id", "demo-20261120t193000z", "--to-namespace", "demo-copy", env=env)  # fmt: skip
    assert result.code == 0, result.stderr
    assert calls(state)[-2]["argv"][3:] == ["--from-backup", "demo-20261120t193000z",
                                            "--namespace-mappings", "demo:demo-copy", "--wait"]  # fmt: skip


@pytest.mark.parametrize("phase", ["PartiallyFailed", "Failed", "InProgress"])
def test_restore_phase_other_than_completed_fails(velero: tuple[Path, Path], phase: str) -> None:
    exe, state = velero
    env = env_with(exe)
    made = run_script(
        "run", "--backend", "velero", "--registry", "demo", "--expires-in-hours", "168", env=env
    )
    assert made.code == 0, made.stderr
    _set_state(state, restore_phase=phase)
    result = run_script("restore", "--backend", "velero", "--registry", "demo", "--latest", env=env)
    assert result.code == 3
    assert f"ended in phase {phase!r}, not 'Completed'" in result.stderr


def test_restore_skips_a_backup_that_is_not_completed(velero: tuple[Path, Path]) -> None:
    exe, state = velero
    env = env_with(exe)
    assert run_script("run", "--backend", "velero", "--registry", "demo", "--expires-in-hours", "168",
                      "--now", "2026-11-20T19:30:00Z", env=env).code == 0  # fmt: skip
    _set_state(state, phase="PartiallyFailed")
    run_script("run", "--backend", "velero", "--registry", "demo", "--expires-in-hours", "168",
               "--now", "2026-11-21T19:30:00Z", env=env)  # fmt: skip
    result = run_script("restore", "--backend", "velero", "--registry", "demo", "--latest", env=env)
    assert result.code == 0, result.stderr
    assert "restored backup demo-20261120t193000z" in result.stdout
    assert "skipped backup demo-20261121t193000z" in result.stdout
    refused = run_script("restore", "--backend", "velero", "--registry", "demo", "--id",
                         "demo-20261121t193000z", env=env)  # fmt: skip
    assert refused.code == 3
    assert "the newest backup that passes is demo-20261120t193000z" in refused.stderr


def test_restore_dry_run_starts_no_restore(velero: tuple[Path, Path]) -> None:
    exe, state = velero
    env = env_with(exe)
    assert run_script("run", "--backend", "velero", "--registry", "demo", "--expires-in-hours", "168",
                      env=env).code == 0  # fmt: skip
    result = run_script(
        "restore", "--backend", "velero", "--registry", "demo", "--latest", "--dry-run", env=env
    )
    assert result.code == 0, result.stderr
    assert "would restore" in result.stdout
    assert not [c for c in calls(state) if c["argv"][0] == "restore"]
