"""The README's reconcile-all examples are real: the same scenario, replayed, prints the same text."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.helpers.cli import VALUES_PATH, values_yaml
from tests.helpers.fleet import Run
from tests.helpers.gitrepo import commit, git, make_repo
from tests.helpers.readme import readme_examples
from tests.jenkins_emulator import JenkinsEmulator

README_URL = "http://jenkins.internal:8080/"


def test_readme_fleet_examples(run_cli: Run, tmp_path: Path) -> None:
    examples = [  # the refused file's example goes on with `$ echo $?`, not replayed
        (command, output.split("$ echo")[0])
        for command, output in readme_examples("<!-- section: fleet -->", program="provisioner")
    ]
    assert len(examples) == 5
    base = tmp_path / "platform"
    olena = ("Olena Koval", "olena@example.com")
    make_repo(base / "registries/alpha", {VALUES_PATH: values_yaml(zone="Europe/Kiev")}, author=olena)
    beta = base / "registries/beta"
    make_repo(
        beta, {VALUES_PATH: values_yaml(schedule="0 2 * * 1-5", days=14, zone="Europe/Berlin")}, author=olena
    )
    git(beta, "branch", "-m", "main")
    make_repo(base / "registries/gamma", {VALUES_PATH: values_yaml(days=3)}, author=olena)
    entries = [
        "  - name: alpha\n    repo: registries/alpha\n",
        "  - name: beta\n    repo: registries/beta\n    ref: main\n    folder: backups\n",
        "  - name: gamma\n    repo: registries/gamma\n",
    ]
    (base / "fleet.yaml").write_text("registries:\n" + "".join(entries))
    (base / "fleet-without-gamma.yaml").write_text("registries:\n" + "".join(entries[:2]))
    (base / "bad.yaml").write_text(
        'registries:\n  - name: alpha\n    repo: registries/alpha\n    schedule: "0 1 * * *"\n'
        "  - name: Beta\n    repo: registries/beta\n"
    )

    def run(command: str, url: str) -> str:
        argv = [arg.replace(README_URL, url) for arg in shlex.split(command)[1:]]
        argv = [str(base / arg) if arg.endswith(".yaml") else arg for arg in argv]
        result = run_cli(*argv)
        shown = result.out or result.err  # the README shows stdout; stderr only for the refused file
        return shown.replace(str(base) + "/", "")

    with JenkinsEmulator() as jenkins:
        bad, first, dry, noop, prune = examples
        assert run(bad[0], jenkins.url) == bad[1]
        assert run(first[0], jenkins.url) == first[1]
        taras = ("Taras Melnyk", "taras@example.com")
        commit(base / "registries/gamma", {VALUES_PATH: values_yaml(days=30)}, author=taras)
        commit(
            beta,
            {VALUES_PATH: values_yaml(schedule="0 3 * * 1-5", days=14, zone="Europe/Berlin")},
            author=taras,
        )
        assert run(dry[0], jenkins.url) == dry[1]
        run(dry[0].replace(" --dry-run", ""), jenkins.url)  # apply
        assert run(noop[0], jenkins.url) == noop[1]
        assert run(prune[0], jenkins.url) == prune[1]
