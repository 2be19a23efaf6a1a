"""The demo (`./dev demo`): runs end to end from a checkout, says it needs one when examples/ is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner import demo


def test_demo_runs_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "DEMO", tmp_path / "demo")
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "=== provisioner status" in out and "Backups kept: 1" in out
    assert (tmp_path / "demo" / "jenkins_home" / "jobs").is_dir()


def test_demo_without_a_checkout_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "EXAMPLE", tmp_path / "site-packages" / "examples" / "demo-registry")
    monkeypatch.setattr(demo, "DEMO", tmp_path / "demo")
    assert demo.main() == 2
    err = capsys.readouterr().err
    assert "needs a source checkout" in err and "Traceback" not in err
    assert not (tmp_path / "demo").exists()
