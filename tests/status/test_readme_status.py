"""The README's status examples are real: the backups are made and status prints the same text."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from provisioner.backup.cli import main as backup_main
from tests.helpers.cli import CliRun

ROOT = Path(__file__).resolve().parents[2]


def _examples() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- subsection: status -->")
    end = text.index("### provisioner upgrade-values", start)
    found = []
    for block in re.findall(r"```console\n(.*?)```", text[start:end], flags=re.S):
        for part in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = part.partition("\n")
            found.append((command, output))
    return found


def test_readme_status_examples(run_cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    examples = _examples()
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
