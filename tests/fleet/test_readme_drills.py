"""The README's scheduled-drills example is real: the same scenario, replayed, prints the same text."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.helpers.cli import VALUES_PATH, values_yaml
from tests.helpers.fleet import Run
from tests.helpers.gitrepo import make_repo
from tests.helpers.readme import README, readme_examples
from tests.jenkins_emulator import JenkinsEmulator

README_URL = "http://jenkins.internal:8080/"


def test_readme_drills_example(run_cli: Run, tmp_path: Path) -> None:
    examples = readme_examples(
        "### Scheduled drills", "<!-- section: status-upgrade -->", program="provisioner"
    )
    assert len(examples) == 2
    base = tmp_path / "platform"
    for name in ("alpha", "beta"):
        make_repo(base / f"registries/{name}", {VALUES_PATH: values_yaml()}, author=("Olena Koval", "o@x"))
    (base / "fleet.yaml").write_text(
        "registries:\n  - name: alpha\n    repo: registries/alpha\n"
        "  - name: beta\n    repo: registries/beta\n    folder: backups\n"
    )
    # the policy as the README shows it
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Scheduled drills") :]
    policy = section[section.index("```yaml\n") + 8 : section.index("```", section.index("```yaml\n") + 8)]
    (base / "policy.yaml").write_text(policy)

    with JenkinsEmulator() as jenkins:
        # the backup jobs exist already: the first example turns drills on
        assert (
            run_cli("reconcile-all", "--fleet", str(base / "fleet.yaml"), "--jenkins-url", jenkins.url).code
            == 0
        )
        for command, output in examples:
            argv = [arg.replace(README_URL, jenkins.url) for arg in shlex.split(command)[1:]]
            argv = [str(base / arg) if arg.endswith(".yaml") else arg for arg in argv]
            result = run_cli(*argv)
            assert result.code == 0, result.err
            assert result.out == output
        assert jenkins.is_disabled("Drill-registry-backup-alpha")
        assert jenkins.is_disabled("backups/Drill-registry-backup-beta")
