"""The README's upgrade-values examples are real: run each `$ provisioner upgrade-values` line."""

from __future__ import annotations

import shlex

import pytest

from provisioner.cli import main
from tests.helpers.readme import ROOT, readme_examples

EXAMPLES = readme_examples("### provisioner upgrade-values")


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
