"""Normalization: what Jenkins changes on re-serialization is ignored, what we own is not."""

from __future__ import annotations

import pytest

from provisioner.jenkins.configxml import ConfigXmlError, parse_config
from provisioner.jobs.jobxml import diff_normalized, normalize_config
from provisioner.jobs.marker import read_marker
from provisioner.jobs.render import render_job_config
from provisioner.settings.model import BackupSettings
from tests.jenkins_emulator import xmlconfig

SETTINGS = BackupSettings(enabled=True, schedule="0 12 1 * 1", expires_in_days=7, time_zone="Europe/Kyiv")


def rendered() -> str:
    return render_job_config(
        SETTINGS, registry="reg-a", job_full_name="Create-registry-backup-reg-a", source=None
    )


def jenkins_resave(xml: str) -> str:
    """What the emulator (and Jenkins) returns: XML 1.1, class field order, plugin versions, defaults."""
    tree = xmlconfig.normalize_tree(xmlconfig.parse(xml), drop_invalid_triggers=True, drop_unknown=True)
    return xmlconfig.serialize_realistic(tree)


def test_jenkins_reserialization_means_the_same() -> None:
    xml = rendered()
    resaved = jenkins_resave(xml)
    assert resaved != xml and resaved.startswith('<?xml version="1.1"')
    assert normalize_config(resaved) == normalize_config(xml)


def test_defaults_plugin_attributes_and_sibling_order_are_ignored() -> None:
    a = "<flow-definition plugin='workflow-job@1'><properties><x/><y>1</y></properties></flow-definition>"
    b = (
        '<?xml version="1.1" encoding="UTF-8"?>\n<flow-definition>\n  <disabled>false</disabled>\n'
        "  <properties><y>1</y>\n<x></x></properties><keepDependencies>false</keepDependencies>"
        "<triggers/><actions/><description></description></flow-definition>"
    )
    assert normalize_config(a) == normalize_config(b)
    dc = "org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty"
    assert normalize_config(f"<r><{dc}/></r>") == normalize_config(
        f"<r><{dc}><abortPrevious>false</abortPrevious></{dc}></r>"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("TZ=Europe/Kyiv\n0 12 1 * *", "TZ=Europe/Kyiv\n0 13 1 * *"),
        ("<disabled>false</disabled>", "<disabled>true</disabled>"),
        ("<defaultValue>168</defaultValue>", "<defaultValue>169</defaultValue>"),
        ("<sandbox>true</sandbox>", "<sandbox>false</sandbox>"),
        ("<numToKeep>50</numToKeep>", "<numToKeep>5</numToKeep>"),
        ("sh &#39;backup-registry run&#39;", "sh &#39;backup-registry run; id&#39;"),
    ],
)
def test_changes_to_owned_settings_are_detected(old: str, new: str) -> None:
    xml = rendered()
    assert old in xml
    changed = xml.replace(old, new, 1)
    assert normalize_config(changed) != normalize_config(xml)
    assert diff_normalized(normalize_config(xml), normalize_config(changed)).startswith("--- live")


def test_parameter_order_matters_and_removal_is_detected() -> None:
    xml = rendered()
    root = parse_config(xml)
    defs = root.find("properties/hudson.model.ParametersDefinitionProperty/parameterDefinitions")
    assert defs is not None
    import xml.etree.ElementTree as ET

    first, second = list(defs)
    defs[:] = [second, first]
    assert normalize_config(ET.tostring(root, encoding="unicode")) != normalize_config(xml)
    dc = "<org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty>"
    assert dc in xml
    start = xml.index(dc)
    end = xml.index("</org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty>")
    without = xml[:start] + xml[end + len(dc) + 1 :]
    assert normalize_config(without) != normalize_config(xml)


@pytest.mark.parametrize(
    "bad",
    ["<a>", "", '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "<a>" + "x" * 5_000_001 + "</a>"],
)
def test_unreadable_config_is_refused(bad: str) -> None:
    with pytest.raises(ConfigXmlError):
        normalize_config(bad)


def test_marker_tampering_is_not_trusted() -> None:
    from provisioner.jenkins.configxml import job_facts

    description = job_facts(rendered()).description
    assert read_marker(description).valid
    assert not read_marker("hand-made job").managed
    tampered = description.replace('"expiresInDays":7', '"expiresInDays":70')
    assert read_marker(tampered).managed and not read_marker(tampered).valid
    appended = description + "\nprovisioner-applied: {}"
    assert not read_marker(appended).valid
    assert not read_marker(description.replace("provisioner-applied: {", "provisioner-applied: [")).valid
