from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.cli import main
from tests.helpers.cli import CliRun
from tests.helpers.gitrepo import commit, make_repo

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_VALUES = ROOT / "examples" / "demo-registry" / "deploy-templates" / "values.yaml"
NOW = "2026-11-22T10:00:00Z"
ALICE = ("Alice Admin", "alice@example.com")
BOB = ("Bob Builder", "bob@example.com")


def run_json(run_cli: Callable[..., CliRun], *argv: str) -> tuple[int, dict[str, object]]:
    done = run_cli(*argv, "--format", "json")
    return done.code, done.json()


@pytest.fixture
def registry(tmp_path: Path) -> tuple[Path, list[str]]:
    repo = tmp_path / "demo-registry"
    first = make_repo(repo, {"deploy-templates/values.yaml": EXAMPLE_VALUES.read_text()}, author=ALICE)
    broken = EXAMPLE_VALUES.read_text().replace("expiresInDays: 7", 'expiresInDays: "7"')
    second = commit(repo, {"deploy-templates/values.yaml": broken}, author=BOB, message="quote it")
    return repo, [first, second]


def test_validate_json_valid_from_git(
    run_cli: Callable[..., CliRun], registry: tuple[Path, list[str]]
) -> None:
    repo, shas = registry
    code, data = run_json(run_cli, "validate", "--repo", str(repo), "--ref", shas[0], "--now", NOW)
    assert code == 0
    assert data == {
        "valid": True,
        "settings": {
            "enabled": True,
            "schedule": "30 19 * * *",
            "expiresInDays": 7,
            "expiresInHours": 168,
            "timeZone": "Europe/Kiev",
        },
        "nextRuns": ["2026-11-22T19:30:00+02:00", "2026-11-23T19:30:00+02:00", "2026-11-24T19:30:00+02:00"],
        "errors": [],
        "warnings": [],
        "source": {"commit": shas[0], "author": {"name": ALICE[0], "email": ALICE[1]}},
    }


def test_validate_json_invalid_keeps_preview(
    run_cli: Callable[..., CliRun], registry: tuple[Path, list[str]]
) -> None:
    repo, shas = registry
    code, data = run_json(run_cli, "validate", "--repo", str(repo), "--now", NOW)
    assert code == 1
    assert data["valid"] is False and data["settings"] is None
    assert data["errors"] == [
        {
            "field": "global.registryBackup.expiresInDays",
            "message": "'7' is a string; expected a YAML integer from 7 to 3650 (days)",
            "line": 7,
        }
    ]
    assert data["nextRuns"] == [
        "2026-11-22T19:30:00+02:00",
        "2026-11-23T19:30:00+02:00",
        "2026-11-24T19:30:00+02:00",
    ]
    assert data["source"] == {"commit": shas[1], "author": {"name": BOB[0], "email": BOB[1]}}


def test_validate_text(run_cli: Callable[..., CliRun]) -> None:
    code, out, _ = run_cli("validate", "--values", str(EXAMPLE_VALUES), "--now", NOW)
    assert code == 0
    assert "At 19:30, every day" in out and "2026-11-22T19:30:00+02:00" in out and "168 hours" in out


def test_validate_text_invalid(run_cli: Callable[..., CliRun], tmp_path: Path) -> None:
    f = tmp_path / "values.yaml"
    f.write_text("global:\n  registryBackup:\n    enabled: yes\n    schedule: '*/5 * * * *'\n")
    code, out, _ = run_cli("validate", "--values", str(f), "--now", NOW)
    assert code == 1
    assert "line 3: global.registryBackup.enabled:" in out
    assert "line 4: global.registryBackup.schedule:" in out and "every 5 minutes" in out


def test_validate_disabled_still_previews(run_cli: Callable[..., CliRun], tmp_path: Path) -> None:
    f = tmp_path / "values.yaml"
    f.write_text("global:\n  registryBackup:\n    enabled: false\n    schedule: '0 3 * * *'\n")
    code, data = run_json(run_cli, "validate", "--values", str(f), "--now", "2026-10-24T12:00:00+03:00")
    assert code == 0
    assert data["nextRuns"] == [
        "2026-10-25T03:00:00+03:00",
        "2026-10-25T03:00:00+02:00",
        "2026-10-26T03:00:00+02:00",
    ]
    assert any("twice" in w for w in data["warnings"])  # type: ignore[union-attr]


def test_validate_with_policy(run_cli: Callable[..., CliRun], tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "minimums:\n  expiresInDays: 14\n  intervalMinutes: 120\ndefaults:\n  expiresInDays: 14\n"
    )
    code, data = run_json(
        run_cli, "validate", "--values", str(EXAMPLE_VALUES), "--policy", str(policy), "--now", NOW
    )
    assert code == 1
    assert "minimum retention of 14" in data["errors"][0]["message"]  # type: ignore[index]
    policy.write_text("minimums:\n  expiresInDays: 6\n")
    code, _, err = run_cli("validate", "--values", str(EXAMPLE_VALUES), "--policy", str(policy))
    assert code == 2 and "policy file" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["validate"],
        ["validate", "--values", "/nonexistent/values.yaml"],
        ["validate", "--repo", "/nonexistent"],
        ["validate", "--values", "x", "--repo", "y"],
        ["validate", "--values", str(EXAMPLE_VALUES), "--ref", "HEAD"],
        ["validate", "--values", str(EXAMPLE_VALUES), "--now", "tomorrow"],
        ["validate", "--values", str(EXAMPLE_VALUES), "--now", "2026-11-22T10:00:00"],
        ["validate", "--values", str(EXAMPLE_VALUES), "--format", "xml"],
        ["validate", "--values", str(EXAMPLE_VALUES), "--policy", "/nonexistent/policy.yaml"],
        ["validate", "--repo", str(ROOT / "examples")],  # not a repository root (no upward search)
        ["next-runs"],
        ["next-runs", "0 0 * * *", "--count", "0"],
        ["next-runs", "0 0 * * *", "--count", "101"],
        ["next-runs", "0 0 * * *", "--count", "3.0"],
        ["next-runs", "0 0 * * *", "--count", "1_0"],
        ["next-runs", "0 0 * * *", "--count", "\u0663"],
        ["next-runs", "0 0 * * *", "--count", "-1"],
        ["next-runs", "0 0 * * *", "--after", "yesterday"],
        ["next-runs", "0 0 * * *", "--after", "2026-01-01"],
        ["next-runs", "0 0 * * *", "--after", "0001-01-01T00:00:00Z"],
        ["validate", "--values", str(EXAMPLE_VALUES), "--now", "9999-12-31T23:59:59-12:00"],
    ],
)
def test_usage_errors_exit_2(run_cli: Callable[..., CliRun], argv: list[str]) -> None:
    code, _, err = run_cli(*argv)
    assert code == 2 and err


def test_git_usage_errors(run_cli: Callable[..., CliRun], registry: tuple[Path, list[str]]) -> None:
    repo, _ = registry
    for extra in (["--ref", "no-such-branch"], ["--values-path", "missing.yaml"]):
        code, _, err = run_cli("validate", "--repo", str(repo), *extra)
        assert code == 2 and "provisioner: error:" in err


def test_next_runs_json(run_cli: Callable[..., CliRun]) -> None:
    code, data = run_json(
        run_cli, "next-runs", "30 3 * * *", "--tz", "Europe/Kiev", "--after", "2027-03-26T12:00:00Z"
    )
    assert code == 0
    assert data == {
        "schedule": "30 3 * * *",
        "timeZone": "Europe/Kiev",
        "runs": ["2027-03-27T03:30:00+02:00", "2027-03-29T03:30:00+03:00", "2027-03-30T03:30:00+03:00"],
    }
    code, data = run_json(run_cli, "next-runs", "@daily", "--count", "100", "--after", NOW)
    assert code == 0 and len(data["runs"]) == 100 and data["timeZone"] == "Europe/Kiev"  # type: ignore[arg-type]
    code, data = run_json(
        run_cli, "next-runs", "0 3 * * *", "--count", "1", "--after", "2026-10-25T00:00:00Z"
    )
    assert data["runs"] == ["2026-10-25T03:00:00+02:00"]  # strictly after the first 03:00


@pytest.mark.parametrize(
    ("schedule", "tz", "field"),
    [
        ("*/30 * * * *", "UTC", "schedule"),
        ("H H * * *", "UTC", "schedule"),
        ("0 0 30 2 *", "UTC", "schedule"),
        ("$(reboot)", "UTC", "schedule"),
        ("0 0 * * *", "europe/kiev", "timeZone"),
        ("0 0 * * *", "UTC+3", "timeZone"),
        ("0 0 * * *", "posix/UTC", "timeZone"),
    ],
)
def test_next_runs_invalid_exit_1(run_cli: Callable[..., CliRun], schedule: str, tz: str, field: str) -> None:
    code, data = run_json(run_cli, "next-runs", schedule, "--tz", tz)
    assert code == 1 and data["runs"] == []
    assert [e["field"] for e in data["errors"]] == [field]  # type: ignore[union-attr,index]
    code, out, _ = run_cli("next-runs", schedule, "--tz", tz)
    assert code == 1 and "invalid" in out


def test_next_runs_text(run_cli: Callable[..., CliRun]) -> None:
    code, out, _ = run_cli("next-runs", "0 3 * * *", "--after", "2026-10-24T12:00:00Z")
    assert code == 0
    assert out.splitlines()[0] == "0 3 * * * in Europe/Kiev: At 03:00, every day"
    assert "  2026-10-25T03:00:00+03:00" in out and "  2026-10-25T03:00:00+02:00" in out
    assert "warning: daylight saving" in out


# Every heavy runtime dependency (pyproject.toml) that the validate path must not load.
HEAVY = (
    "jinja2",
    "urllib3",
    "certifi",
    "pygit2",
    "pydantic",
    "ruamel",
    "rich",
    "zstandard",
    "prometheus_client",
    "fastapi",
    "starlette",
    "uvicorn",
    "httptools",
    "uvloop",
)


def test_heavy_list_names_every_heavy_runtime_dependency() -> None:
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("=")[0].split(" ")[0].lower() for d in declared}
    light = {"pyyaml", "tzdata"}  # what validate needs: the strict reader and the zone data
    imports = {"python-jenkins": "jenkins", "ruamel.yaml": "ruamel", "prometheus-client": "prometheus_client"}
    assert {imports.get(n, n) for n in names - light} == set(HEAVY)


def test_cli_process_is_light_and_exit_codes_are_real(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        f"HEAVY = {HEAVY!r}\n"
        "from provisioner.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "heavy = sorted(m for m in HEAVY if m in sys.modules)\n"
        "print('HEAVY', ','.join(heavy), file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "validate", "--values", str(EXAMPLE_VALUES), "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY \n" in done.stderr
    assert json.loads(done.stdout)["valid"] is True
    done = subprocess.run(
        [sys.executable, "-m", "provisioner", "next-runs", "*/5 * * * *"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1


_HOSTILE = st.sampled_from(
    [
        "$(id)",
        "`id`",
        ";",
        "\n",
        "</spec>",
        "!!python/object:os.system",
        "*",
        "H",
        "@",
        "@reboot",
        "\x00",
        "\t",
        " ",
        "0",
        "59",
        "60",
        "-",
        ",",
        "/",
        "7",
        "\u2028",
        "'",
        '"',
        "yes",
        "~",
        "L",
        "#",
        "?",
    ]
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(_HOSTILE, st.text(max_size=4)), max_size=8).map("".join))
def test_next_runs_cli_never_crashes(schedule: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["next-runs", "--format", "json", "--after", NOW, "--", schedule])
    data = json.loads(out.getvalue())
    assert code in (0, 1)
    assert (code == 1) == bool(data.get("errors"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(_HOSTILE, st.text(max_size=4)), max_size=6).map("".join), st.integers(0, 3))
def test_validate_cli_never_crashes_on_hostile_files(tmp_path: Path, payload: str, which: int) -> None:
    fields = ["enabled: {}", "schedule: {}", "expiresInDays: {}", "timeZone: {}"]
    line = fields[which].format(payload)
    if which == 3:
        lines = ["global:", "  " + line, "  registryBackup:", "    schedule: '0 4 * * *'"]
    else:
        lines = ["global:", "  registryBackup:", "    " + line]
    f = tmp_path / "values.yaml"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["validate", "--values", str(f), "--format", "json", "--now", NOW])
    data = json.loads(out.getvalue())
    assert code in (0, 1) and data["valid"] is (code == 0)
    assert all(e["field"] and e["message"] for e in data["errors"])
