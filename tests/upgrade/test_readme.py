"""The README's upgrade-values examples are real: run each `$ provisioner upgrade-values` line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from provisioner.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _examples() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("### provisioner upgrade-values")
    end = text.find("<!-- section:", start)
    found: list[tuple[str, str]] = []
    for block in re.findall(r"```console\n(.*?)```", text[start : end if end >= 0 else None], flags=re.S):
        for part in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = part.partition("\n")
            found.append((command, output))
    return found


EXAMPLES = _examples()


def test_the_readme_has_upgrade_examples() -> None:
    assert len(EXAMPLES) == 2


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_example(
    command: str, expected: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(shlex.split(command)[1:]) == 0
    out, err = capsys.readouterr()
    assert out + err == expected
