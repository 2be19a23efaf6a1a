"""The fast paths of plan_reconcile (no rendering when the live job carries the digest recorded when it
was applied) see every edit made in Jenkins, and never weaken the ownership checks."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from provisioner.errors import JenkinsFailure
from provisioner.gitsource import Author, ValuesSource
from provisioner.jenkins.configxml import job_facts
from provisioner.jenkins.target import job_path
from provisioner.jobs.jobxml import normalize_config
from provisioner.jobs.marker import read_marker
from provisioner.jobs.reconcile import Plan, ReconcileRequest, plan_reconcile
from provisioner.jobs.render import render_job_config
from provisioner.settings.model import BackupSettings
from tests.jenkins_emulator import xmlconfig

JOB = "Create-registry-backup-reg-a"
V1 = BackupSettings(enabled=True, schedule="30 19 * * *", expires_in_days=7, time_zone="Europe/Kyiv")
V2 = BackupSettings(enabled=True, schedule="30 03 * * *", expires_in_days=7, time_zone="Europe/Kyiv")
AUTHOR = Author(name="Olena Koval", email="olena@example.com")


def request(settings: BackupSettings, commit: str) -> ReconcileRequest:
    source = ValuesSource(text="", path="deploy-templates/values.yaml", commit=commit, author=AUTHOR)
    return ReconcileRequest("reg-a", settings, source, job_path(JOB, None), repo_dir=Path("/nonexistent"))


def applied(settings: BackupSettings, commit: str, before: Callable[[str], str] = str) -> str:
    """The job as Jenkins returns it after the provisioner applied it (re-serialized, never the bytes);
    ``before`` changes the rendered text first."""
    req = request(settings, commit)
    xml = before(render_job_config(settings, registry="reg-a", job_full_name=JOB, source=req.source))
    tree = xmlconfig.normalize_tree(xmlconfig.parse(xml), drop_invalid_triggers=True, drop_unknown=True)
    return xmlconfig.serialize_realistic(tree)


def plan(live: str, settings: BackupSettings = V1, commit: str = "a" * 40) -> Plan:
    """Commit a...a is an ancestor of b...b."""
    return plan_reconcile(request(settings, commit), live, lambda old, new: old == "a" * 40)


def digest_of(live: str) -> str:
    digest = read_marker(job_facts(live).description).digest
    assert digest is not None and digest.startswith("n1-sha256:")
    return digest


def edit_one_character(live: str, old: str, new: str) -> str:
    assert len(old) == len(new) and live.count(old) == 1
    edited = live.replace(old, new)
    assert len(edited) == len(live) and edited != live
    return edited


def test_an_unchanged_job_is_judged_without_rendering() -> None:
    live = applied(V1, "a" * 40)
    result = plan(live)
    assert result.action == "unchanged" and not result.drift and not result.warnings
    assert result.desired_xml is None  # the fast path: nothing was rendered


EDITS: list[tuple[str, Callable[[str], str]]] = [
    ("schedule", lambda live: edit_one_character(live, "\n30 19 * * *</spec>", "\n30 18 * * *</spec>")),
    ("builds kept", lambda live: edit_one_character(live, "<numToKeep>50<", "<numToKeep>51<")),
    ("script", lambda live: edit_one_character(live, "backup-registry run", "backup-registry ruN")),
    ("disabled", lambda live: edit_one_character(live, "<disabled>false<", "<disabled>falsE<")),
    ("parameter", lambda live: edit_one_character(live, "<defaultValue>168<", "<defaultValue>169<")),
    ("description text", lambda live: edit_one_character(live, "Registry: reg-a", "Registry: reg-b")),
    ("digest", lambda live: edit_one_character(live, digest_of(live), digest_of(live)[:-1] + "x")),
]


@pytest.mark.parametrize(("what", "edit"), EDITS, ids=[what for what, _ in EDITS])
def test_a_one_character_edit_in_jenkins_is_caught_as_drift(what: str, edit: Callable[[str], str]) -> None:
    live = applied(V1, "a" * 40)
    edited = edit(live)
    assert len(edited) == len(live) and edited != live
    result = plan(edited)
    assert result.action == "updated" and result.drift, what
    assert result.desired_xml is not None
    assert normalize_config(result.desired_xml) == normalize_config(applied(V1, "a" * 40))


@pytest.mark.parametrize(("what", "edit"), EDITS, ids=[what for what, _ in EDITS])
def test_a_one_character_edit_is_caught_on_a_change_too(what: str, edit: Callable[[str], str]) -> None:
    result = plan(edit(applied(V1, "a" * 40)), V2, "b" * 40)
    assert result.action == "updated" and result.drift, what


def test_a_change_without_edits_is_no_drift() -> None:
    result = plan(applied(V1, "a" * 40), V2, "b" * 40)
    assert result.action == "updated" and not result.drift and not result.stale
    assert result.changes == {"schedule": ["30 19 * * *", "30 03 * * *"]}


def test_an_older_commit_is_still_stale() -> None:
    result = plan(applied(V2, "b" * 40), V1, "a" * 40)
    assert result.action == "unchanged" and result.stale and not result.drift


@pytest.mark.parametrize(
    "edit",
    [
        lambda live: live.replace(
            "Managed by registry-backup-provisioner (", "Hand-made by someone else (", 1
        ),
        lambda live: edit_one_character(
            live, "Managed by registry-backup-provisioner (", "Managed by registry-backup-provisionar ("
        ),
        lambda live: live.replace("<description>Managed by", "<description>Note.\nManaged by", 1),
    ],
    ids=["marker replaced", "marker one character off", "marker not on the first line"],
)
def test_a_job_whose_description_lost_the_marker_is_refused(edit: Callable[[str], str]) -> None:
    live = edit(applied(V1, "a" * 40))
    assert not read_marker(job_facts(live).description).managed
    with pytest.raises(JenkinsFailure, match="not managed by registry-backup-provisioner"):
        plan(live)
    with pytest.raises(JenkinsFailure, match="not managed by registry-backup-provisioner"):
        plan(live, V2, "b" * 40)


def test_a_job_of_another_registry_is_refused_even_with_a_matching_digest() -> None:
    req = request(V1, "a" * 40)
    other = render_job_config(V1, registry="reg-b", job_full_name=JOB, source=req.source)
    with pytest.raises(JenkinsFailure, match="managed for registry 'reg-b'"):
        plan(other)


def test_a_job_applied_before_the_digest_existed_is_updated_once_without_drift() -> None:
    def previous_version(xml: str) -> str:  # no digest line, and so another template version
        lines = [line for line in xml.split("\n") if not line.startswith("provisioner-digest: ")]
        return "\n".join(lines).replace("&#34;template&#34;:&#34;", "&#34;template&#34;:&#34;0", 1)

    old = applied(V1, "a" * 40, previous_version)
    marker = read_marker(job_facts(old).description)
    assert marker.valid and marker.digest is None
    result = plan(old)
    assert result.action == "updated" and not result.drift
    again = plan(applied(V1, "a" * 40))
    assert again.action == "unchanged" and again.desired_xml is None


def _plan(live: str | None, settings: BackupSettings, commit: str, *, want_diff: bool) -> Plan:
    req = dataclasses.replace(request(settings, commit), want_diff=want_diff)
    return plan_reconcile(req, live, lambda old, new: old == "a" * 40)


@pytest.mark.parametrize("want_diff", [True, False], ids=["with diff", "without diff"])
@pytest.mark.parametrize(("what", "edit"), EDITS, ids=[what for what, _ in EDITS])
def test_the_diff_is_optional_and_the_judgement_is_the_same(
    what: str, edit: Callable[[str], str], want_diff: bool
) -> None:
    """reconcile-all's text report shows no diffs, so its plans skip them: every action, drift and
    warning stays what it is with the diff."""
    live = applied(V1, "a" * 40)
    for text, wanted, commit in [
        (live, V2, "b" * 40),
        (edit(live), V1, "a" * 40),
        (edit(live), V2, "b" * 40),
    ]:
        result = _plan(text, wanted, commit, want_diff=want_diff)
        assert result.action == "updated" and result.drift == (text != live), what
        assert (result.diff is not None) == want_diff
        if want_diff:
            assert result.diff and "+++ rendered" in result.diff
        assert result.desired_facts == job_facts(result.desired_xml or "")
    created = _plan(None, V1, "a" * 40, want_diff=want_diff)
    assert created.action == "created" and (created.diff is not None) == want_diff


def _outside_description(live: str) -> list[int]:
    """Positions of letters and digits outside the description's text (the marker stays intact)."""
    start = live.index("<description>") + len("<description>")
    end = live.index("</description>")
    return [i for i, ch in enumerate(live) if ch.isascii() and ch.isalnum() and not start <= i < end]


_LIVE = applied(V1, "a" * 40)
_POSITIONS = _outside_description(_LIVE)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    position=st.sampled_from(_POSITIONS),
    replacement=st.sampled_from("0123456789abcdefxyzABCXYZ"),
    change=st.booleans(),
)
def test_digests_judge_as_the_normalized_forms_do(position: int, replacement: str, change: bool) -> None:
    """Whether the live job is the desired one, and whether it drifted, are told by its description and
    body digest instead of normalizing both jobs: for any one-character edit made in Jenkins outside the
    description, the answers are the ones the normalized forms give."""
    edited = _LIVE[:position] + replacement + _LIVE[position + 1 :]
    try:
        normalize_config(edited)
    except ValueError:
        assume(False)  # a tag name edited: Jenkins would not have saved it
    settings_, commit = (V2, "b" * 40) if change else (V1, "a" * 40)
    desired = render_job_config(
        settings_, registry="reg-a", job_full_name=JOB, source=request(settings_, commit).source
    )
    applied_v1 = render_job_config(
        V1, registry="reg-a", job_full_name=JOB, source=request(V1, "a" * 40).source
    )
    result = _plan(edited, settings_, commit, want_diff=False)
    same = normalize_config(edited) == normalize_config(desired)
    assert result.action == ("unchanged" if same else "updated")
    assert result.drift == (normalize_config(edited) != normalize_config(applied_v1))


def test_a_live_job_in_an_unknown_encoding_is_refused_not_a_crash() -> None:
    """Found by the test above: an XML declaration naming an encoding Python does not know raised
    LookupError from the parser (an "unexpected error", exit 70) instead of a refusal naming the job."""
    live = applied(V1, "a" * 40)
    declared = re.sub(r"encoding=(['\"])[^'\"]+\1", "encoding='x-unknown-0'", live, count=1)
    assert declared != live
    for settings_, commit in [(V1, "a" * 40), (V2, "b" * 40)]:
        with pytest.raises(JenkinsFailure, match=f"job {JOB} exists but .* unknown encoding"):
            plan(declared, settings_, commit)
