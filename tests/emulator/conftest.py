from __future__ import annotations

from collections.abc import Iterator

import jenkins
import pytest

from tests.jenkins_emulator import JenkinsEmulator

USER, PASSWORD, TOKEN = "admin", "s3cret-pw", "11aa22bb33cc"

PIPELINE_XML = """<?xml version="1.0" encoding="utf-8"?>
<flow-definition plugin="workflow-job">
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition" plugin="workflow-cps">
    <script>sh 'backup-registry run'</script>
    <sandbox>true</sandbox>
  </definition>
  <actions/>
  <description>Managed by the provisioner</description>
  <keepDependencies>false</keepDependencies>
  <disabled>false</disabled>
  <properties>
    <org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty/>
    <org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty>
      <triggers>
        <hudson.triggers.TimerTrigger>
          <spec>{spec}</spec>
        </hudson.triggers.TimerTrigger>
      </triggers>
    </org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty>
    <hudson.model.ParametersDefinitionProperty>
      <parameterDefinitions>
        <hudson.model.StringParameterDefinition>
          <name>REGISTRY_NAME</name>
          <defaultValue>registry-a</defaultValue>
        </hudson.model.StringParameterDefinition>
        <hudson.model.ChoiceParameterDefinition>
          <name>MODE</name>
          <choices class="java.util.Arrays$ArrayList">
            <a class="string-array"><string>full</string><string>incremental</string></a>
          </choices>
        </hudson.model.ChoiceParameterDefinition>
      </parameterDefinitions>
    </hudson.model.ParametersDefinitionProperty>
  </properties>
</flow-definition>
"""
KYIV_SPEC = "TZ=Europe/Kyiv\n30 19 * * *"

FREESTYLE_XML = """<?xml version="1.0" encoding="utf-8"?>
<project>
  <actions/><description>plain</description><keepDependencies>false</keepDependencies>
  <properties/><scm class="hudson.scm.NullSCM"/><canRoam>true</canRoam><disabled>false</disabled>
  <triggers class="vector"/><concurrentBuild>false</concurrentBuild>
  <builders/><publishers/><buildWrappers/>
</project>
"""

FOLDER_XML = """<?xml version="1.0" encoding="utf-8"?>
<com.cloudbees.hudson.plugins.folder.Folder plugin="cloudbees-folder">
  <description>registries</description>
</com.cloudbees.hudson.plugins.folder.Folder>
"""


def pipeline(spec: str = KYIV_SPEC) -> str:
    return PIPELINE_XML.replace("{spec}", spec)


@pytest.fixture
def emu() -> Iterator[JenkinsEmulator]:
    with JenkinsEmulator(users={USER: PASSWORD}, api_tokens={USER: TOKEN}) as server:
        yield server
        assert server.internal_errors == []


@pytest.fixture
def client(emu: JenkinsEmulator) -> jenkins.Jenkins:
    """python-jenkins with password auth (needs crumbs + the session cookie)."""
    return jenkins.Jenkins(emu.url, USER, PASSWORD, timeout=10)


@pytest.fixture
def token_client(emu: JenkinsEmulator) -> jenkins.Jenkins:
    return jenkins.Jenkins(emu.url, USER, TOKEN, timeout=10)
