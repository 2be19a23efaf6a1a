"""The renderer: escaping of hostile text, strict templates, description marker round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.gitsource import Author, ValuesSource
from provisioner.jenkins.configxml import job_facts
from provisioner.jobs.jobxml import normalize_config
from provisioner.jobs.marker import fingerprint, read_marker
from provisioner.jobs.render import (
    TemplateError,
    environment,
    render_folder_config,
    render_job_config,
    templates_dir,
)
from provisioner.settings.model import BackupSettings

SETTINGS = BackupSettings(enabled=True, schedule="30 19 * * *", expires_in_days=7, time_zone="Europe/Kyiv")
HOSTILE = "Eve <eve@x> & ]]> </description><disabled>true</disabled> '\" $(rm -rf /) `id`\n\x07"
HOSTILE_SOURCE = ValuesSource(
    text="", path="values</spec>&.yaml", commit="a" * 40, author=Author(name=HOSTILE, email="e@x]]>&<")
)


def render(
    source: ValuesSource | None, registry: str = "reg-a", job: str = "Create-registry-backup-reg-a"
) -> str:
    return render_job_config(SETTINGS, registry=registry, job_full_name=job, source=source)


def test_hostile_author_and_path_stay_text() -> None:
    xml = render(HOSTILE_SOURCE)
    facts = job_facts(xml)
    assert facts.disabled is False  # the injected <disabled>true</disabled> is only text
    assert HOSTILE.replace("\n", " ").replace("\x07", " ") in facts.description
    assert "]]>" not in xml.replace("]]&gt;", "")
    marker = read_marker(facts.description)
    assert marker.valid and marker.author == {"name": HOSTILE, "email": "e@x]]>&<"}
    assert marker.commit == "a" * 40 and marker.settings == SETTINGS


@settings(max_examples=60, deadline=None)
@given(name=st.text(max_size=40), email=st.text(max_size=20), path=st.text(min_size=1, max_size=30))
def test_any_author_text_renders_parseable_xml_with_a_valid_marker(name: str, email: str, path: str) -> None:
    source = ValuesSource(text="", path=path, commit="b" * 40, author=Author(name=name, email=email))
    facts = job_facts(render(source))
    assert facts.trigger_specs == ("TZ=Europe/Kyiv\n30 19 * * *",)
    assert read_marker(facts.description).valid


def test_script_has_only_single_quoted_sh_and_no_values() -> None:
    xml = render(None, registry="reg-zz")
    from provisioner.jenkins.configxml import parse_config

    script = parse_config(xml).findtext("definition/script") or ""
    assert "sh 'backup-registry run'" in script
    assert '"' not in script and "${" not in script and "reg-zz" not in script and "168" not in script
    assert (parse_config(xml).findtext("definition/sandbox") or "") == "true"


def test_disabled_settings_disable_the_job() -> None:
    disabled = BackupSettings(enabled=False, schedule="30 19 * * *", expires_in_days=7, time_zone="UTC")
    xml = render_job_config(disabled, registry="r", job_full_name="j", source=None)
    facts = job_facts(xml)
    assert facts.disabled and facts.trigger_specs == ("TZ=UTC\n30 19 * * *",)


def test_fingerprint_depends_on_every_setting() -> None:
    variants = [
        SETTINGS,
        BackupSettings(False, "30 19 * * *", 7, "Europe/Kyiv"),
        BackupSettings(True, "31 19 * * *", 7, "Europe/Kyiv"),
        BackupSettings(True, "30 19 * * *", 8, "Europe/Kyiv"),
        BackupSettings(True, "30 19 * * *", 7, "Europe/Kiev"),
    ]
    prints = {fingerprint(s) for s in variants}
    assert len(prints) == len(variants) and all(p.startswith("sha256:") for p in prints)


def test_strict_undefined_and_autoescape() -> None:
    env = environment()
    with pytest.raises(Exception, match="undefined"):
        env.get_template("pipeline-job.xml.j2").render()
    assert env.from_string("{{ x }}").render(x="<&>") == "&lt;&amp;&gt;"


def test_missing_templates_give_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROVISIONER_JOB_TEMPLATES", str(tmp_path))
    with pytest.raises(TemplateError, match="job templates not found"):
        templates_dir()
    monkeypatch.delenv("PROVISIONER_JOB_TEMPLATES")
    assert (templates_dir() / "pipeline-job.xml.j2").is_file()


def test_folder_config_escapes_its_name() -> None:
    xml = render_folder_config("a&b/<c>")
    assert "a&amp;b/&lt;c&gt;" in xml
    assert normalize_config(xml)


def test_render_cli_matches_library(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    values = tmp_path / "values.yaml"
    values.write_text("global:\n  timeZone: UTC\n  registryBackup:\n    enabled: true\n")
    result = run_cli("render", "--values", str(values), "--registry", "reg-a")
    assert result.code == 0
    assert job_facts(result.out).parameters == (("REGISTRY_NAME", "reg-a"), ("EXPIRES_IN_HOURS", "168"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("global:\n  registryBackup:\n    expiresInDays: 7.0\n")
    invalid = run_cli("render", "--values", str(bad), "--registry", "reg-a")
    assert invalid.code == 1 and invalid.out == "" and "expiresInDays" in invalid.err


def test_an_edited_template_is_rendered_anew(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Templates are compiled once per version (no stat per render): an edit made while the process
    runs is still what the next job is rendered from, and its version is another one."""
    import shutil

    from provisioner.jobs.render import render_job_config, render_script, template_version

    copy = tmp_path / "job-templates"
    shutil.copytree(templates_dir(), copy)
    monkeypatch.setenv("PROVISIONER_JOB_TEMPLATES", str(copy))
    wanted = BackupSettings(True, "30 19 * * *", 7, "Europe/Kiev")
    before = render_job_config(wanted, registry="r", job_full_name="j", source=None)
    version = template_version()
    assert "backup-registry run" in before and "backup-registry run" in render_script()
    script = copy / "pipeline-script.groovy.j2"
    script.write_text(script.read_text().replace("backup-registry run", "backup-registry run --verbose"))
    after = render_job_config(wanted, registry="r", job_full_name="j", source=None)
    assert "backup-registry run --verbose" in after and "backup-registry run --verbose" in render_script()
    assert template_version() != version


def test_an_edited_folder_template_is_rendered_anew(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The folder template is compiled with the job's, once per version: an edit is still seen."""
    import shutil

    from provisioner.jobs.render import render_folder_config

    copy = tmp_path / "job-templates"
    shutil.copytree(templates_dir(), copy)
    monkeypatch.setenv("PROVISIONER_JOB_TEMPLATES", str(copy))
    assert "<displayName>" not in render_folder_config("team")
    folder = copy / "folder.xml.j2"
    folder.write_text(
        folder.read_text().replace("</description>", "</description><displayName>T</displayName>")
    )
    assert "<displayName>T</displayName>" in render_folder_config("team")
