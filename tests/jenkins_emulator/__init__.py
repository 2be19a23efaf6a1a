"""A Jenkins REST API emulator for tests and benchmarks (no real Jenkins runs here).

Behaviour follows /work/shared/jenkins-facts.md (§3 and "What a Jenkins emulator must do");
python-jenkins talks to it unchanged::

    from tests.jenkins_emulator import JenkinsEmulator

    with JenkinsEmulator(users={"admin": "pw"}, api_tokens={"admin": "tok"}) as jenkins:
        client = jenkins_module.Jenkins(jenkins.url, "admin", "pw")
        ...
        assert jenkins.count("POST") == 1

Separate process: ``python -m tests.jenkins_emulator --port 0`` prints ``URL http://127.0.0.1:PORT/``.
Counters over HTTP (not counted themselves): GET /_emulator/stats, GET /_emulator/requests,
POST /_emulator/reset[?jobs=1], POST /_emulator/fail_next?status=&count=&path_prefix=,
POST /_emulator/delay_next?seconds=&count=&path_prefix=.
"""

from __future__ import annotations

from .cron import (
    CronSpecError,
    JenkinsSpec,
    jenkins_spec_error,
    jenkins_spec_is_valid,
    jenkins_spec_matches,
    parse_spec,
)
from .server import JenkinsEmulator, RecordedRequest

__all__ = [
    "CronSpecError",
    "JenkinsEmulator",
    "JenkinsSpec",
    "RecordedRequest",
    "jenkins_spec_error",
    "jenkins_spec_is_valid",
    "jenkins_spec_matches",
    "parse_spec",
]
