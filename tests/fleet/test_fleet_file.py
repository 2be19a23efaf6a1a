"""The fleet file is validated strictly, every problem reported with its line, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.fleet.file import MAX_FLEET_BYTES, MAX_REGISTRIES, FleetError, load_fleet, parse_fleet
from tests.helpers.fleet import Run
from tests.jenkins_emulator import JenkinsEmulator

FLEET = Path("/srv/platform/fleet.yaml")


def problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(FleetError) as caught:
        parse_fleet(text, FLEET)
    return caught.value.problems


def test_minimal_and_full_entries() -> None:
    entries = parse_fleet(
        "registries:\n"
        "  - name: alpha\n"
        "    repo: repos/alpha\n"
        "  - name: beta\n"
        "    repo: /abs/beta\n"
        "    ref: release/1.2\n"
        "    valuesPath: charts/values.yaml\n"
        "    folder: team/backups\n"
        "    jobName: Create-registry-backup\n",
        FLEET,
    )
    alpha, beta = entries
    assert alpha.repo == Path("/srv/platform/repos/alpha") and alpha.ref == "HEAD"
    assert alpha.values_path == "deploy-templates/values.yaml"
    assert alpha.job.full_name == "Create-registry-backup-alpha" and alpha.line == 2
    assert beta.repo == Path("/abs/beta") and beta.ref == "release/1.2"
    assert (
        beta.job.full_name == "team/backups/Create-registry-backup"
        and beta.values_path == "charts/values.yaml"
    )


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("registries:\n  - name: a\n    repo: r\n    schedule: x\n", 4, "unknown key 'schedule'"),
        ("registries:\n  - name: a\n", 2, "repo is required"),
        ("registries:\n  - name: Alpha\n    repo: r\n", 2, "not a DNS-1123 label"),
        ("registries:\n  - name: 7\n    repo: r\n", 2, "must be a string, not an integer"),
        ("registries:\n  - name: true\n    repo: r\n", 2, "must be a string, not a boolean"),
        ("registries:\n  - name: off\n    repo: r\n", 2, 'not a boolean (to mean the text, quote it: "off")'),
        ("registries:\n  - name: a\n    repo: [x]\n", 3, "must be a string, not a list"),
        ("registries:\n  - name: a\n    repo: r\n    ref: --upload-pack=x\n", 4, "is not a git ref"),
        ("registries:\n  - name: a\n    repo: r\n    valuesPath: ../../etc/passwd\n", 4, "without '..'"),
        ("registries:\n  - name: a\n    repo: r\n    jobName: 'a/b'\n", 4, "jobName: invalid job name"),
        ("registries:\n  - name: a\n    repo: r\n    folder: '..'\n", 4, "folder: invalid folder name"),
        (
            "registries:\n  - name: a\n    repo: r\n    jobName: Drill-registry-backup-b\n",
            4,
            "jobName: job name 'Drill-registry-backup-b': names starting with 'Drill-registry-backup-' are",
        ),
        ("registries:\n  - a\n", 2, "must be a mapping"),
        ("registries: []\n", 1, "non-empty list"),
        ("registry:\n  - name: a\n    repo: r\n", 1, "unknown top-level key 'registry'"),
        ("- name: a\n", None, "must be a mapping with one key"),
        ("registries:\n  - name: a\n    repo: !!python/object:os.system r\n", 3, "non-standard YAML tag"),
        ("registries:\n  - {name: a, repo: r\n", None, "not valid YAML"),
    ],
)
def test_each_problem_is_named_with_its_line(text: str, line: int | None, needle: str) -> None:
    found = problems(text)
    assert any(needle in message for _line, message in found), found
    if line is not None:
        assert any(got == line for got, message in found if needle in message), found


def test_duplicates_and_all_problems_at_once() -> None:
    found = problems(
        "registries:\n"
        "  - name: a\n    repo: r1\n"
        "  - name: a\n    repo: r2\n"
        "  - name: b\n    repo: r3\n    jobName: Create-registry-backup-a\n"
        "  - name: c\n    repo: r4\n    colour: red\n"
    )
    messages = [message for _line, message in found]
    assert any("'a' is listed twice (first at line 2)" in m for m in messages)
    assert any("claimed by 'a' and 'b'" in m for m in messages)
    assert any("unknown key 'colour'" in m for m in messages)


HOSTILE = st.sampled_from(
    ["$(reboot)", "`id`", "a;b", "a\nb", "</spec>", "007", "1e9", "yes", "null", "~", "9" * 40, "a b", "-rf"]
)


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(["name", "repo", "ref", "valuesPath", "folder", "jobName"]), value=HOSTILE)
def test_hostile_values_are_rejected_or_kept_verbatim(field: str, value: str) -> None:
    """Nothing is ever coerced: a value is refused, or accepted exactly as the string it is."""
    entry = {"name": "alpha", "repo": "repos/alpha", field: value}
    text = "registries:\n  - " + "\n    ".join(
        f"{k}: {v!r}" if "\n" not in v else f'{k}: "a\\nb"' for k, v in entry.items()
    )
    try:
        (parsed,) = parse_fleet(text + "\n", FLEET)
    except FleetError as exc:
        assert exc.problems and all(isinstance(message, str) for _line, message in exc.problems)
        return
    seen = {
        "name": parsed.name,
        "repo": str(parsed.repo),
        "ref": parsed.ref,
        "valuesPath": parsed.values_path,
        "folder": "/".join(parsed.job.folders),
        "jobName": parsed.job.name,
    }
    assert value in seen[field] or seen[field].endswith(value)


def test_invalid_fleet_file_contacts_nobody(run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path) -> None:
    fleet = fleet_dir / "fleet.yaml"
    fleet.write_text("registries:\n  - name: a\n    repo: r\n  - name: a\n    repo: r\n", encoding="utf-8")
    run = run_cli("reconcile-all", "--fleet", str(fleet), "--jenkins-url", jenkins.url)
    assert run.code == 2
    assert "invalid fleet file" in run.err and "line 4" in run.err and "listed twice" in run.err
    assert jenkins.count() == 0
    missing = run_cli("reconcile-all", "--fleet", str(fleet_dir / "nope.yaml"), "--jenkins-url", jenkins.url)
    assert missing.code == 2 and "fleet file not found" in missing.err


def _long_fleet(count: int) -> str:
    """``count`` entries with folder and job name, as a large fleet writes them (about 150 bytes each)."""
    return "registries:\n" + "".join(
        f"  - name: registry-{i:05d}\n    repo: registries/registry-{i:05d}\n    ref: main\n"
        f"    folder: backups/registry-{i:05d}\n    jobName: Create-registry-backup\n"
        for i in range(count)
    )


def test_ten_thousand_registries_fit_although_the_file_is_over_one_mib(tmp_path: Path) -> None:
    text = _long_fleet(MAX_REGISTRIES)
    assert len(text.encode()) > 1024 * 1024
    path = tmp_path / "fleet.yaml"
    path.write_text(text, encoding="utf-8")
    entries = load_fleet(path)
    assert len(entries) == MAX_REGISTRIES
    assert entries[-1].job.full_name == "backups/registry-09999/Create-registry-backup"


def test_more_registries_or_bytes_than_the_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match=f"more than {MAX_REGISTRIES} registries"):
        parse_fleet(_long_fleet(MAX_REGISTRIES + 1), tmp_path / "fleet.yaml")
    path = tmp_path / "huge.yaml"
    path.write_text("registries:\n" + "#" * MAX_FLEET_BYTES + "\n", encoding="utf-8")
    with pytest.raises(FleetError, match="larger than the 16 MiB limit"):
        load_fleet(path)
