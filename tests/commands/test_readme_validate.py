"""The README's validate/next-runs examples are real: run each `$ provisioner ...` line and compare."""

from __future__ import annotations

import json
import shlex

import pytest

from provisioner.cli import main
from tests.helpers.readme import ROOT, readme_examples

# From the settings section through the validate/next-runs section.
EXAMPLES = readme_examples(
    "<!-- section: settings -->", "<!-- section: commands-jenkins -->", program="provisioner"
)


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_example(
    command: str, expected: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    main(shlex.split(command)[1:])
    out = capsys.readouterr().out
    if "--repo ." in command:  # the commit and author are those of the checkout
        got, want = json.loads(out), json.loads(expected)
        assert got["source"]["commit"] and got["source"]["author"]["email"]
        got.pop("source")
        want.pop("source")
        assert got == want
    elif "--after" in command or "--now" in command or "--values examples/values-invalid" in command:
        assert out == expected
    else:  # pragma: no cover - every README example fixes its time
        pytest.fail(f"README example without a fixed time: {command}")
