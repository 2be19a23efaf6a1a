"""`provisioner upgrade-values` end to end: files, reports, exit codes, and --repo --commit in real git."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.upgrade.carry import upgrade_values_text
from tests.helpers.gitrepo import git, make_repo
from tests.upgrade.shapes import CURRENT, INCOMING

VALUES = "deploy-templates/values.yaml"


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-gitconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)


def _files(tmp_path: Path, incoming: str = INCOMING["key-order-changed"]) -> tuple[Path, Path]:
    cur, inc = tmp_path / "current.yaml", tmp_path / "incoming.yaml"
    cur.write_text(CURRENT, encoding="utf-8")
    inc.write_text(incoming, encoding="utf-8")
    return cur, inc


def test_stdout_gets_the_file_stderr_the_explanation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cur, inc = _files(tmp_path)
    assert main(["upgrade-values", "--current", str(cur), "--incoming", str(inc)]) == 0
    out, err = capsys.readouterr()
    assert out == upgrade_values_text(CURRENT, INCOMING["key-order-changed"]).text
    assert "Carried over from the current values.yaml:" in err
    assert 'global.timeZone: "Europe/Kiev" (rewritten)' in err


def test_output_file_and_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cur, inc = _files(tmp_path)
    out_file = tmp_path / "out" / "values.yaml"
    out_file.parent.mkdir()
    argv = ["upgrade-values", "--current", str(cur), "--incoming", str(inc), "-o", str(out_file)]
    assert main([*argv, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "carriedOver": {
            "global.timeZone": "Europe/Kiev",
            "global.registryBackup": {"enabled": True, "schedule": "30 19 * * *", "expiresInDays": 7},
        },
        "changed": ["global.timeZone", "global.registryBackup"],
        "removed": [],
        "unchanged": False,
        "warnings": [],
        "output": str(out_file),
    }
    assert (
        out_file.read_text(encoding="utf-8")
        == upgrade_values_text(CURRENT, INCOMING["key-order-changed"]).text
    )
    assert [p.name for p in out_file.parent.iterdir()] == ["values.yaml"]  # no temp file left
    # idempotent: upgrading the output again writes the same bytes and says so
    again = tmp_path / "again.yaml"
    argv2 = ["upgrade-values", "--current", str(cur), "--incoming", str(out_file), "-o", str(again)]
    assert main([*argv2, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["unchanged"] is True
    assert again.read_bytes() == out_file.read_bytes()


def test_json_to_stdout_carries_the_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cur, inc = _files(tmp_path)
    assert main(["upgrade-values", "--current", str(cur), "--incoming", str(inc), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output"] == "-"
    assert report["content"] == upgrade_values_text(CURRENT, INCOMING["key-order-changed"]).text


def test_invalid_current_setting_warns_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cur, inc = _files(tmp_path)
    cur.write_text(CURRENT.replace("expiresInDays: 7", "expiresInDays: 2"), encoding="utf-8")
    assert main(["upgrade-values", "--current", str(cur), "--incoming", str(inc), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["carriedOver"]["global.registryBackup"]["expiresInDays"] == 2
    assert any("expiresInDays" in w and "carried over unchanged" in w for w in report["warnings"])


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--current", "{cur}", "--incoming", "{tmp}/missing.yaml"], 2, "values file not found"),
        (["--current", "{tmp}", "--incoming", "{inc}"], 2, "is a directory"),
        (["--current", "{bad}", "--incoming", "{inc}"], 1, "line 3: current values.yaml is not valid YAML"),
        (["--current", "{cur}", "--incoming", "{inc}", "--commit"], 2, "go with --repo"),
        (["--current", "{cur}", "--incoming", "{inc}", "--values-path", "x.yaml"], 2, "go with --repo"),
        (["--repo", "{tmp}", "--incoming", "{inc}"], 2, "--repo needs --commit"),
        (["--repo", "{tmp}", "--incoming", "{inc}", "--commit", "-o", "{tmp}/o"], 2, "does not go with"),
        (["--repo", "{tmp}", "--incoming", "{inc}", "--commit", "--author", "nobody"], 2, "must look like"),
        (["--repo", "{tmp}/nope", "--incoming", "{inc}", "--commit"], 2, "repository directory not found"),
        (["--repo", "{tmp}", "--incoming", "{inc}", "--commit"], 2, "git rev-parse failed"),
    ],
)
def test_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    cur, inc = _files(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("global:\n  timeZone: [\n", encoding="utf-8")
    argv = [a.format(cur=cur, inc=inc, bad=bad, tmp=tmp_path) for a in args]
    assert main(["upgrade-values", *argv]) == code
    assert message in capsys.readouterr().err


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "registry"
    make_repo(repo, {VALUES: CURRENT, "README.md": "registry\n"}, author=("Old Author", "old@example.com"))
    return repo


def test_repo_commit_with_explicit_author(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = _repo(tmp_path)
    _cur, inc = _files(tmp_path)
    before = git(repo, "rev-parse", "HEAD")
    argv = ["upgrade-values", "--repo", str(repo), "--incoming", str(inc), "--commit"]
    assert main([*argv, "--author", "Release Bot <release@example.com>", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    head = git(repo, "rev-parse", "HEAD")
    assert report["commit"] == head != before
    assert report["output"] == str(repo / VALUES)
    assert git(repo, "rev-parse", "HEAD~1") == before
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "Release Bot <release@example.com>|Release Bot <release@example.com>"
    )
    message = git(repo, "log", "-1", "--format=%B")
    assert message.splitlines()[0] == f"Upgrade {VALUES}: keep the registry's backup settings"
    assert '- global.timeZone: "Europe/Kiev"' in message
    assert (
        '- global.registryBackup: {"enabled": true, "schedule": "30 19 * * *", "expiresInDays": 7}' in message
    )
    assert git(repo, "diff", "--name-only", "HEAD~1", "HEAD") == VALUES
    expected = upgrade_values_text(CURRENT, INCOMING["key-order-changed"]).text
    assert git(repo, "show", f"HEAD:{VALUES}") + "\n" == expected
    assert git(repo, "status", "--porcelain") == ""
    # again: nothing to do, no new commit
    assert main([*argv, "--format", "json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["commit"] is None and again["unchanged"] is True
    assert git(repo, "rev-parse", "HEAD") == head


def test_repo_commit_with_configured_identity_and_values_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "registry"
    make_repo(repo, {"chart/values.yaml": CURRENT})
    git(repo, "config", "user.name", "Configured Person")
    git(repo, "config", "user.email", "configured@example.com")
    _cur, inc = _files(tmp_path, INCOMING["missing-global"])
    argv = ["upgrade-values", "--repo", str(repo), "--incoming", str(inc), "--commit", "--values-path"]
    assert main([*argv, "chart/values.yaml"]) == 0
    text = capsys.readouterr().out
    assert "Committed " in text
    assert git(repo, "log", "-1", "--format=%an <%ae>") == "Configured Person <configured@example.com>"
    assert "global:\n  timeZone: Europe/Kiev\n" in (repo / "chart/values.yaml").read_text(encoding="utf-8")


def test_repo_commit_leaves_other_staged_changes_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(tmp_path)
    _cur, inc = _files(tmp_path)
    (repo / "README.md").write_text("staged edit\n", encoding="utf-8")
    git(repo, "add", "README.md")
    argv = ["upgrade-values", "--repo", str(repo), "--incoming", str(inc), "--commit"]
    assert main([*argv, "--author", "Bot <bot@example.com>"]) == 0
    capsys.readouterr()
    assert git(repo, "diff", "--name-only", "HEAD~1", "HEAD") == VALUES
    assert git(repo, "status", "--porcelain") == "M  README.md"


def test_repo_refuses_a_dirty_values_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = _repo(tmp_path)
    _cur, inc = _files(tmp_path)
    (repo / VALUES).write_text(CURRENT + "# local edit\n", encoding="utf-8")
    before = git(repo, "rev-parse", "HEAD")
    argv = ["upgrade-values", "--repo", str(repo), "--incoming", str(inc), "--commit"]
    assert main([*argv, "--author", "Bot <bot@example.com>"]) == 2
    assert "has uncommitted changes" in capsys.readouterr().err
    assert git(repo, "rev-parse", "HEAD") == before
    assert (repo / VALUES).read_text(encoding="utf-8").endswith("# local edit\n")


def test_repo_missing_values_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = _repo(tmp_path)
    _cur, inc = _files(tmp_path)
    argv = [
        "upgrade-values",
        "--repo",
        str(repo),
        "--incoming",
        str(inc),
        "--commit",
        "--values-path",
        "x.yaml",
    ]
    assert main(argv) == 2
    assert "x.yaml not found" in capsys.readouterr().err
    assert main([*argv[:-1], "../outside.yaml"]) == 2
    assert "invalid values path" in capsys.readouterr().err


def test_repo_unusable_current_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "registry"
    make_repo(repo, {VALUES: "global: 5\n"})
    _cur, inc = _files(tmp_path)
    argv = ["upgrade-values", "--repo", str(repo), "--incoming", str(inc), "--commit"]
    assert main([*argv, "--author", "Bot <bot@example.com>"]) == 1
    assert "global is not a mapping" in capsys.readouterr().err
    assert (repo / VALUES).read_text(encoding="utf-8") == "global: 5\n"
    assert git(repo, "rev-list", "--count", "HEAD") == "1"


@pytest.mark.parametrize("kind", ["device", "symlink", "directory"])
def test_output_must_be_a_regular_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    cur, inc = _files(tmp_path)
    if kind == "device":
        target = Path("/dev/null")
    elif kind == "symlink":
        target = tmp_path / "link.yaml"
        (tmp_path / "real.yaml").write_text("x: 1\n", encoding="utf-8")
        target.symlink_to(tmp_path / "real.yaml")
    else:
        target = tmp_path / "adir"
        target.mkdir()
    argv = ["upgrade-values", "--current", str(cur), "--incoming", str(inc), "-o", str(target)]
    assert main(argv) == 2
    assert "not a regular file" in capsys.readouterr().err
    assert Path("/dev/null").is_char_device()
    if kind == "symlink":
        assert target.is_symlink() and (tmp_path / "real.yaml").read_text(encoding="utf-8") == "x: 1\n"


def test_policy_raises_the_bar_for_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cur, inc = _files(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text("defaults:\n  expiresInDays: 14\nminimums:\n  expiresInDays: 14\n", encoding="utf-8")
    argv = ["upgrade-values", "--current", str(cur), "--incoming", str(inc), "--format", "json"]
    assert main([*argv, "--policy", str(policy)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["carriedOver"]["global.registryBackup"]["expiresInDays"] == 7  # never raised silently
    assert any("minimum retention of 14 days" in w for w in report["warnings"])
    assert main([*argv, "--policy", str(tmp_path / "missing.yaml")]) == 2
