"""Jenkins targets: REST (urllib3) and a JENKINS_HOME directory, plus the endpoint policy.

Heavy imports (urllib3, certifi) happen only when an HTTP target is built.
"""

from __future__ import annotations

from provisioner.jenkins.endpoint import check_jenkins_url, is_private_host
from provisioner.jenkins.home import JenkinsHomeTarget
from provisioner.jenkins.retry import RetryPolicy
from provisioner.jenkins.target import JobPath, JobTarget, job_path

__all__ = [
    "JenkinsHomeTarget",
    "JobPath",
    "JobTarget",
    "RetryPolicy",
    "check_jenkins_url",
    "is_private_host",
    "job_path",
]
