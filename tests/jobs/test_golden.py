"""Golden files: tests/golden/<case>/values.yaml (+ case.json, + policy.yaml) in, config.xml out.

A case with a policy.yaml renders with that policy's ``jobs:`` options (timeout, notify and ping
credentials); the others with the defaults. A case whose policy has ``drills:`` also renders the
registry's drill job, to drill.xml (the backup job's config.xml is what it would be without drills).

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
from provisioner.jobs.drill import drill_job_path, drill_settings
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


def render_case(case: str, *, drill: bool = False) -> str:
    directory = GOLDEN / case
    text = (directory / "values.yaml").read_text(encoding="utf-8")
    spec = json.loads((directory / "case.json").read_text(encoding="utf-8"))
    policy = case_policy(case)
    result = validate_values_text(text, policy)
    assert result.settings is not None, result.errors
    settings = result.settings
    path = job_path(default_job_name(spec["registry"]), spec.get("folder"))
    if drill:
        assert policy.drills is not None
        settings = drill_settings(settings, policy.drills)
        path = drill_job_path(path, spec["registry"])
    source = ValuesSource(text=text, path="deploy-templates/values.yaml", commit=COMMIT, author=AUTHOR)
    return render_job_config(
        settings,
        registry=spec["registry"],
        job_full_name=path.full_name,
        source=source,
        jobs=policy.jobs,
        kind="drill" if drill else "backup",
    )


DRILL_CASES = [case for case in CASES if case_policy(case).drills is not None]


def test_every_required_case_exists() -> None:
    assert {"enabled", "disabled", "macro", "dom-dow", "kyiv", "folder"} <= set(CASES)
    assert {"notify", "ping", "notify-ping"} <= set(CASES)
    assert {"drills", "drills-disabled", "drills-folder"} <= set(DRILL_CASES)
    assert len(CASES) >= 8
    # every drill.xml belongs to a case that renders one (no stale golden left behind)
    assert {p.parent.name for p in GOLDEN.glob("*/drill.xml")} == set(DRILL_CASES)


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    rendered = render_case(case)
    expected_file = GOLDEN / case / "config.xml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_file.write_text(rendered, encoding="utf-8")
    assert expected_file.is_file(), f"missing {expected_file}: run with UPDATE_GOLDEN=1"
    assert rendered == expected_file.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", DRILL_CASES)
def test_drill_golden(case: str) -> None:
    rendered = render_case(case, drill=True)
    expected_file = GOLDEN / case / "drill.xml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_file.write_text(rendered, encoding="utf-8")
    assert expected_file.is_file(), f"missing {expected_file}: run with UPDATE_GOLDEN=1"
    assert rendered == expected_file.read_text(encoding="utf-8")


GOLDEN_JOBS = [f"{case}/config.xml" for case in CASES] + [f"{case}/drill.xml" for case in DRILL_CASES]


@pytest.mark.parametrize("job", GOLDEN_JOBS)
def test_golden_spec_is_valid_jenkins_cron(job: str) -> None:
    from provisioner.jenkins.configxml import job_facts

    (spec,) = job_facts((GOLDEN / job).read_text(encoding="utf-8")).trigger_specs
    assert spec.startswith("TZ=") and "@" not in spec and "H" not in spec
    assert jenkins_spec_is_valid(spec)
