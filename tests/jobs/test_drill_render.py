"""The drill job as rendered: hardened like the backup job, its marker says what it is, and drills
change nothing about the backup job."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.gitsource import Author, ValuesSource
from provisioner.jenkins.configxml import job_facts, parse_config
from provisioner.jenkins.target import JobPath
from provisioner.jobs.drill import drill_job_path, drill_settings
from provisioner.jobs.marker import read_marker
from provisioner.jobs.render import (
    KIND_TEMPLATES,
    TEMPLATES_ENV,
    TemplateError,
    render_job_config,
    template_version,
)
from provisioner.settings.model import BackupSettings
from provisioner.settings.policy import DrillOptions
from tests.jobs.test_render import HOSTILE, HOSTILE_SOURCE

BACKUP = BackupSettings(enabled=True, schedule="30 19 * * *", expires_in_days=7, time_zone="Europe/Kyiv")
DRILLS = DrillOptions(schedule="0 4 * * 0")
SCRIPT_LINE = "sh 'backup-registry drill --latest'"


def render_drill(source: ValuesSource | None = None, registry: str = "reg-a", **kwargs: object) -> str:
    return render_job_config(
        drill_settings(BACKUP, DRILLS),
        registry=registry,
        job_full_name=f"Drill-registry-backup-{registry}",
        source=source,
        kind="drill",
        **kwargs,  # type: ignore[arg-type]
    )


def test_drill_job_facts() -> None:
    xml = render_drill()
    facts = job_facts(xml)
    assert facts.trigger_specs == ("TZ=Europe/Kyiv\n0 4 * * 0",)  # the drill's schedule, the registry's zone
    assert facts.parameters == (("REGISTRY_NAME", "reg-a"),)
    assert facts.disabled is False
    marker = read_marker(facts.description)
    assert marker.valid and marker.kind == "drill" and marker.registry == "reg-a"
    assert marker.settings == drill_settings(BACKUP, DRILLS)
    assert (parse_config(xml).findtext("definition/sandbox") or "") == "true"


def test_drill_script_has_one_single_quoted_sh_and_no_values() -> None:
    script = parse_config(render_drill(registry="reg-zz")).findtext("definition/script") or ""
    assert SCRIPT_LINE in script
    steps = [line.strip() for line in script.splitlines() if line.strip().startswith("sh ")]
    assert steps == [SCRIPT_LINE]
    # Nothing Groovy or the shell could expand, and no value in the text: the registry reaches the drill
    # only as the REGISTRY_NAME parameter (an environment variable backup-registry reads).
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("//"))
    assert "$" not in code and '"' not in code and "reg-zz" not in script and "0 4" not in script
    assert "withCredentials" not in script  # the drill needs no secret in the job


def test_the_drill_step_reads_the_registry_from_the_jobs_parameter(tmp_path: Path) -> None:
    """The one step, run with the job's parameter in its environment, is a valid drill of that registry,
    and a hostile parameter value is refused as input (never run, never part of a command line)."""
    import shlex

    from provisioner.backup.cli import build_parser, validate
    from provisioner.backup.errors import InvalidInput

    argv = shlex.split(SCRIPT_LINE[len("sh ") :])[0].split()
    assert argv[:2] == ["backup-registry", "drill"]
    args = build_parser().parse_args(argv[1:])
    environ = {"REGISTRY_NAME": "reg-a", "BACKUP_STORE": str(tmp_path / "store")}
    request = validate(args, environ)
    assert request.registry == "reg-a"
    with pytest.raises(InvalidInput, match="REGISTRY_NAME"):
        validate(args, {**environ, "REGISTRY_NAME": "reg-a; rm -rf /"})


def test_disabled_backups_disable_the_drill_job() -> None:
    off = BackupSettings(enabled=False, schedule="30 19 * * *", expires_in_days=7, time_zone="UTC")
    facts = job_facts(
        render_job_config(
            drill_settings(off, DRILLS), registry="r", job_full_name="j", source=None, kind="drill"
        )
    )
    assert facts.disabled and facts.trigger_specs == ("TZ=UTC\n0 4 * * 0",)


def test_drill_job_lives_beside_the_backup_job() -> None:
    assert drill_job_path(JobPath(("a", "b"), "Create-registry-backup"), "reg-a") == JobPath(
        ("a", "b"), "Drill-registry-backup-reg-a"
    )
    assert drill_job_path(JobPath((), "custom"), "x").full_name == "Drill-registry-backup-x"


def test_hostile_author_and_path_stay_text_in_the_drill_job() -> None:
    xml = render_drill(HOSTILE_SOURCE)
    facts = job_facts(xml)
    assert facts.disabled is False  # the injected <disabled>true</disabled> is only text
    assert HOSTILE.replace("\n", " ").replace("\x07", " ") in facts.description
    script = parse_config(xml).findtext("definition/script") or ""
    assert HOSTILE not in script and "eve@" not in script and "rm -rf" not in script and "`id`" not in script
    marker = read_marker(facts.description)
    assert marker.valid and marker.kind == "drill" and marker.author == {"name": HOSTILE, "email": "e@x]]>&<"}


@settings(max_examples=40, deadline=None)
@given(name=st.text(max_size=40), path=st.text(min_size=1, max_size=30))
def test_any_author_text_gives_a_parseable_drill_job_with_the_same_script(name: str, path: str) -> None:
    source = ValuesSource(text="", path=path, commit="b" * 40, author=Author(name=name, email="e@x"))
    xml = render_drill(source)
    facts = job_facts(xml)
    assert facts.trigger_specs == ("TZ=Europe/Kyiv\n0 4 * * 0",)
    assert read_marker(facts.description).valid
    assert parse_config(xml).findtext("definition/script") == parse_config(render_drill()).findtext(
        "definition/script"
    )


def test_backup_job_is_not_changed_by_drills() -> None:
    # The backup job's template version digests only its own templates: the drill's template does not
    # move it (so every backup job applied before drills existed stays as it is).
    assert "drill-script.groovy.j2" not in KIND_TEMPLATES["backup"]
    assert template_version("backup") != template_version("drill")
    backup = render_job_config(BACKUP, registry="reg-a", job_full_name="j", source=None)
    assert read_marker(job_facts(backup).description).kind == "backup"
    assert '"kind"' not in backup and "&#34;kind&#34;" not in backup  # the backup record is as it was


def test_a_templates_directory_without_the_drill_template(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An operator's templates made before drills existed still render backup jobs; a drill job names
    the template it lacks."""
    source = Path(__file__).resolve().parents[2] / "job-templates"
    for name in KIND_TEMPLATES["backup"]:
        (tmp_path / name).write_bytes((source / name).read_bytes())
    monkeypatch.setenv(TEMPLATES_ENV, str(tmp_path))
    assert job_facts(render_job_config(BACKUP, registry="r", job_full_name="j", source=None)).parameters
    with pytest.raises(TemplateError, match=r"drill-script\.groovy\.j2 not found"):
        render_drill()


def test_render_cli_drill(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    values = tmp_path / "values.yaml"
    values.write_text("global:\n  timeZone: UTC\n  registryBackup:\n    enabled: true\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("drills:\n  schedule: '0 4 * * 0'\n")
    argv = ("render", "--values", str(values), "--registry", "reg-a", "--folder", "team")
    result = run_cli(*argv, "--policy", str(policy), "--drill")
    assert result.code == 0, result.err
    facts = job_facts(result.out)
    assert facts.parameters == (("REGISTRY_NAME", "reg-a"),)
    assert facts.trigger_specs == ("TZ=UTC\n0 4 * * 0",)
    assert read_marker(facts.description).job == "team/Drill-registry-backup-reg-a"
    # the backup job renders the same with or without drills in the policy
    assert run_cli(*argv, "--policy", str(policy)).out == run_cli(*argv).out
    no_drills = run_cli(*argv, "--drill")
    assert no_drills.code == 2 and no_drills.out == "" and "drills" in no_drills.err
