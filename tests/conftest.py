"""Root fixtures: every test runs with no Jenkins credentials from the caller's environment and with the
`provisioner` logger as it found it; the in-process CLI runner, the Jenkins emulator and a registry
repository for the tests that need them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from provisioner.cli import main
from tests.helpers.cli import TOKEN, USER, VALUES_PATH, CliRun, values_yaml
from tests.helpers.gitrepo import make_repo
from tests.jenkins_emulator import JenkinsEmulator


@pytest.fixture(autouse=True)
def _isolated_logging_and_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("JENKINS_USER", "JENKINS_TOKEN", "PYTHONHTTPSVERIFY", "JENKINS_API_EXTRA_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    logger = logging.getLogger("provisioner")
    handlers = list(logger.handlers)
    yield
    logger.handlers[:] = handlers


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliRun]:
    def run(*argv: str) -> CliRun:
        capsys.readouterr()
        logger = logging.getLogger("provisioner")
        before = list(logger.handlers)
        try:
            code = main(list(argv))  # argparse's exits come back as the return value
        finally:
            logger.handlers[:] = before
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


@pytest.fixture
def jenkins(monkeypatch: pytest.MonkeyPatch) -> Iterator[JenkinsEmulator]:
    with JenkinsEmulator(users={USER: "password-not-used"}, api_tokens={USER: TOKEN}) as server:
        monkeypatch.setenv("JENKINS_USER", USER)
        monkeypatch.setenv("JENKINS_TOKEN", TOKEN)
        yield server
        assert server.internal_errors == []


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "registry"
    make_repo(path, {VALUES_PATH: values_yaml()}, author=("Olena Koval", "olena@example.com"))
    return path
