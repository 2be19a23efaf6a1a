"""The README's status examples are real: the backups are made and status prints the same text."""

from __future__ import annotations

import shlex
from pathlib import Path

from provisioner.backup.cli import main as backup_main
from tests.helpers.cli import CliRun
from tests.helpers.readme import ROOT, readme_examples


def test_readme_status_examples(run_cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    examples = readme_examples("<!-- subsection: status -->", "### provisioner upgrade-values")
    assert [c.split()[0] for c, _ in examples] == [
        "backup-registry",
        "backup-registry",
        "provisioner",
        "provisioner",
    ]
    source = tmp_path / "srv-demo"
    source.mkdir()
    (source / "data.txt").write_text("registry data\n")
    monkeypatch.chdir(ROOT)

    def local(argv: list[str]) -> list[str]:
        return [
            a.replace("/srv/demo", str(source)).replace("/srv/backups", str(tmp_path / "backups"))
            for a in argv
        ]

    for command, output in examples:
        argv = local(shlex.split(command))
        if argv[0] == "backup-registry":
            assert backup_main(argv[1:]) == 0
            continue
        run: CliRun = run_cli(*argv[1:])
        assert run.code == 0, run.err
        assert run.out == output
