"""Golden files: tests/golden/<case>/values.yaml (+ case.json, + policy.yaml) in, config.xml out.

A case with a policy.yaml renders with that policy's ``jobs:`` options (timeout, notify and ping
credentials); the others with the defaults.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 python -m pytest tests/jobs/test_golden.py``
and review the diff: the golden files are the specification of the rendered job.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from provisioner.gitsource import Author, ValuesSource
from provisioner.jenkins.target import job_path
from provisioner.jobs.render import default_job_name, render_job_config
from provisioner.settings.policy import DEFAULT_POLICY, Policy
from provisioner.settings.policy_file import load_policy
from provisioner.settings.values import validate_values_text
from tests.jenkins_emulator import jenkins_spec_is_valid

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "values.yaml").is_file())
COMMIT = "0123456789abcdef0123456789abcdef01234567"
AUTHOR = Author(name="Olena Koval", email="olena@example.com")


def case_policy(case: str) -> Policy:
    policy_file = GOLDEN / case / "policy.yaml"
    return load_policy(policy_file) if policy_file.is_file() else DEFAULT_POLICY


def render_case(case: str) -> str:
    directory = GOLDEN / case
    text = (directory / "values.yaml").read_text(encoding="utf-8")
    spec = json.loads((directory / "case.json").read_text(encoding="utf-8"))
    policy = case_policy(case)
    result = validate_values_text(text, policy)
    assert result.settings is not None, result.errors
    path = job_path(default_job_name(spec["registry"]), spec.get("folder"))
    source = ValuesSource(text=text, path="deploy-templates/values.yaml", commit=COMMIT, author=AUTHOR)
    return render_job_config(
        result.settings,
        registry=spec["registry"],
        job_full_name=path.full_name,
        source=source,
        jobs=policy.jobs,
    )


def test_every_required_case_exists() -> None:
    assert {"enabled", "disabled", "macro", "dom-dow", "kyiv", "folder"} <= set(CASES)
    assert {"notify", "ping", "notify-ping"} <= set(CASES)
    assert len(CASES) >= 8


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    rendered = render_case(case)
    expected_file = GOLDEN / case / "config.xml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_file.write_text(rendered, encoding="utf-8")
    assert expected_file.is_file(), f"missing {expected_file}: run with UPDATE_GOLDEN=1"
    assert rendered == expected_file.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES)
def test_golden_spec_is_valid_jenkins_cron(case: str) -> None:
    from provisioner.jenkins.configxml import job_facts

    (spec,) = job_facts((GOLDEN / case / "config.xml").read_text(encoding="utf-8")).trigger_specs
    assert spec.startswith("TZ=") and "@" not in spec and "H" not in spec
    assert jenkins_spec_is_valid(spec)
