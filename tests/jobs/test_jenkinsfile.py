"""Static checks of the Jenkinsfile (CI also lints it with npm-groovy-lint --failon error)."""

from __future__ import annotations

import re
from pathlib import Path

JENKINSFILE = Path(__file__).resolve().parents[2] / "Jenkinsfile"


def test_only_single_quoted_sh_steps_and_no_gstrings() -> None:
    text = JENKINSFILE.read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    steps = re.findall(r"\bsh\s*(\S{1,3})", code)
    assert steps and all(s.startswith("'") for s in steps), steps
    outside_strings = re.sub(r"'''.*?'''|'[^'\n]*'", "", code, flags=re.S)
    assert '"' not in outside_strings  # no double-quoted (interpolating) Groovy strings at all


def test_stages_credentials_and_audit_archive() -> None:
    text = JENKINSFILE.read_text()
    assert "changeset 'deploy-templates/values.yaml'" in text
    for stage in ("Validate", "Dry run", "Apply"):
        assert f"stage('{stage}')" in text
    assert "provisioner validate" in text and "--dry-run" in text and "--audit-log" in text
    assert text.count("withCredentials([usernamePassword(") == 2
    assert "usernameVariable: 'JENKINS_USER', passwordVariable: 'JENKINS_TOKEN'" in text
    assert "archiveArtifacts" in text
