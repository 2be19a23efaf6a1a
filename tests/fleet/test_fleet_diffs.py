"""reconcile-all computes a change's diff only for the report that shows it (JSON): the text report
shows none, and a diff was a tenth of a change's planning. Every other answer is the same either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.fleet.file import load_fleet
from provisioner.fleet.run import reconcile_fleet
from provisioner.jenkins.http import HttpTarget
from provisioner.jobs.render import render_folder_config
from provisioner.settings.policy_file import load_policy
from tests.helpers.cli import TOKEN, USER, VALUES_PATH, values_yaml
from tests.helpers.fleet import write_fleet
from tests.helpers.gitrepo import commit
from tests.jenkins_emulator import JenkinsEmulator


@pytest.mark.parametrize("processes", [0, 2])
def test_diffs_only_when_asked_and_the_same_judgement(
    jenkins: JenkinsEmulator, fleet_dir: Path, processes: int
) -> None:
    fleet = write_fleet(fleet_dir, {name: values_yaml() for name in ("a", "b", "c", "d")})
    target = HttpTarget(jenkins.url, folder_config=render_folder_config, username=USER, token=TOKEN)
    policy = load_policy(None)
    created = reconcile_fleet(target, load_fleet(fleet), policy=policy, processes=processes, diffs=False)
    assert [o.result.action for o in created.outcomes if o.result] == ["created"] * 4
    assert all(o.result.diff is None for o in created.outcomes if o.result)

    commit(fleet_dir / "repos" / "a", {VALUES_PATH: values_yaml(schedule="15 3 * * *")})
    jenkins.edit_config("Create-registry-backup-b", lambda xml: xml.replace("168", "24"))
    entries = load_fleet(fleet)
    reports = {
        diffs: reconcile_fleet(
            target, entries, policy=policy, processes=processes, diffs=diffs, dry_run=True
        )
        for diffs in (True, False)
    }
    judged = {
        diffs: [
            (o.entry.name, o.result.action, o.result.drift, o.result.warnings, o.result.changes)
            for o in report.outcomes
            if o.result is not None
        ]
        for diffs, report in reports.items()
    }
    assert judged[True] == judged[False]
    assert [(name, action, drift) for name, action, drift, _w, _c in judged[True]] == [
        ("a", "updated", False),
        ("b", "updated", True),
        ("c", "unchanged", False),
        ("d", "unchanged", False),
    ]
    with_diff = {o.entry.name: o.result.diff for o in reports[True].outcomes if o.result}
    assert "15 3 * * *" in str(with_diff["a"]) and "168" in str(with_diff["b"])
    assert with_diff["c"] is None and with_diff["d"] is None
    assert all(o.result.diff is None for o in reports[False].outcomes if o.result)
