"""The job templates ship with a wheel install, and the renderer finds them there."""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from provisioner.jobs import render

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_is_installed_as_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data_files = config["tool"]["setuptools"]["data-files"]
    installed = data_files["share/registry-backup-provisioner/job-templates"]
    assert sorted(installed) == sorted(f"job-templates/{p.name}" for p in (ROOT / "job-templates").iterdir())
    assert set(render.TEMPLATE_FILES) == {Path(p).name for p in installed}


def test_installed_copy_is_used_outside_a_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(render.TEMPLATES_ENV, raising=False)
    monkeypatch.setattr(render, "_CHECKOUT_TEMPLATES", tmp_path / "no-checkout")
    prefix = tmp_path / "venv"
    shutil.copytree(ROOT / "job-templates", prefix / "share/registry-backup-provisioner/job-templates")
    monkeypatch.setattr(sys, "prefix", str(prefix))
    assert render.templates_dir() == prefix / "share/registry-backup-provisioner/job-templates"
    assert "Folder x, created by registry-backup-provisioner" in render.render_folder_config("x")


def test_no_templates_anywhere_names_the_fixes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(render.TEMPLATES_ENV, raising=False)
    monkeypatch.setattr(render, "_CHECKOUT_TEMPLATES", tmp_path / "no-checkout")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "empty-venv"))
    with pytest.raises(render.TemplateError, match=r"reinstall the provisioner.*PROVISIONER_JOB_TEMPLATES"):
        render.templates_dir()
