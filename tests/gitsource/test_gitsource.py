from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.errors import ExitCode, UsageError
from provisioner.gitsource import (
    Author,
    ValuesSource,
    ValuesTooLarge,
    is_ancestor,
    read_values_file,
    read_values_from_git,
)
from provisioner.settings.values import validate_values_text
from tests.helpers.gitrepo import commit, git, make_repo

VALUES = "deploy-templates/values.yaml"
ALICE = ("Alice Admin", "alice@example.com")
BOB = ("Bob Builder", "bob@example.com")
CAROL = ("Carol Committer", "carol@example.com")


def values(schedule: str) -> str:
    return f'global:\n  registryBackup:\n    enabled: true\n    schedule: "{schedule}"\n'


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "registry"
    shas = [make_repo(path, {VALUES: values("0 1 * * *"), "README.md": "x\n"}, author=ALICE, message="init")]
    shas.append(commit(path, {VALUES: values("0 2 * * *")}, author=BOB, message="nightly at two"))
    shas.append(commit(path, {"README.md": "y\n"}, author=CAROL, message="docs only"))
    git(path, "tag", "v1", shas[1])
    return path, shas


def test_reads_head_and_reports_last_change(repo: tuple[Path, list[str]]) -> None:
    path, shas = repo
    source = read_values_from_git(path)
    assert source == ValuesSource(values("0 2 * * *"), VALUES, shas[1], Author(*BOB))
    assert source.to_json() == {"commit": shas[1], "author": {"name": BOB[0], "email": BOB[1]}}


def test_reads_the_commit_tree_not_the_work_tree(repo: tuple[Path, list[str]]) -> None:
    path, _ = repo
    (path / VALUES).write_text(values("*/5 * * * *"))
    (path / "deploy-templates" / "untracked.yaml").write_text("x")
    assert "0 2 * * *" in read_values_from_git(path).text


@pytest.mark.parametrize(
    ("ref_index", "schedule", "author"), [(0, "0 1 * * *", ALICE), (1, "0 2 * * *", BOB)]
)
def test_older_refs(
    repo: tuple[Path, list[str]], ref_index: int, schedule: str, author: tuple[str, str]
) -> None:
    path, shas = repo
    source = read_values_from_git(path, shas[ref_index])
    assert schedule in source.text and source.author == Author(*author) and source.commit == shas[ref_index]
    assert read_values_from_git(path, shas[ref_index][:10]).commit == shas[ref_index]


def test_symbolic_refs(repo: tuple[Path, list[str]]) -> None:
    path, shas = repo
    assert read_values_from_git(path, "v1").commit == shas[1]
    assert read_values_from_git(path, "main").commit == shas[1]
    assert read_values_from_git(path, "HEAD~2").commit == shas[0]


def test_other_values_path(repo: tuple[Path, list[str]]) -> None:
    path, _ = repo
    sha = commit(path, {"helm/values-prod.yaml": values("0 5 * * *")}, author=CAROL, message="prod")
    source = read_values_from_git(path, values_path="helm/values-prod.yaml")
    assert source.commit == sha and source.author == Author(*CAROL) and source.path == "helm/values-prod.yaml"
    assert read_values_from_git(path, values_path="./helm/values-prod.yaml").commit == sha


@pytest.mark.parametrize(
    ("ref", "values_path", "needle"),
    [
        ("nope", VALUES, "unknown git ref 'nope'"),
        ("0" * 40, VALUES, "unknown git ref"),
        ("--output=/tmp/x", VALUES, "invalid git ref"),
        ("HEAD\nx", VALUES, "invalid git ref"),
        ("", VALUES, "invalid git ref"),
        ("HEAD", "deploy-templates/missing.yaml", "not found at HEAD"),
        ("HEAD", "deploy-templates", "is not a file"),
        ("HEAD", "../etc/passwd", "invalid values path"),
        ("HEAD", "/etc/passwd", "invalid values path"),
        ("HEAD", "", "invalid values path"),
    ],
)
def test_usage_errors(repo: tuple[Path, list[str]], ref: str, values_path: str, needle: str) -> None:
    path, _ = repo
    with pytest.raises(UsageError) as info:
        read_values_from_git(path, ref, values_path)
    assert needle in info.value.message


def test_file_added_later_is_missing_at_older_ref(tmp_path: Path) -> None:
    path = tmp_path / "r"
    first = make_repo(path, {"README.md": "x"}, author=ALICE)
    commit(path, {VALUES: values("0 3 * * *")}, author=BOB)
    with pytest.raises(UsageError, match="not found"):
        read_values_from_git(path, first)


def test_not_a_repository(tmp_path: Path, repo: tuple[Path, list[str]]) -> None:
    with pytest.raises(UsageError, match="not found"):
        read_values_from_git(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match="not a git repository"):
        read_values_from_git(tmp_path / "plain")
    path, _ = repo
    with pytest.raises(UsageError, match="not a git repository"):
        read_values_from_git(path / "deploy-templates")  # no searching upwards


def test_empty_repository(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.mkdir()
    git(path, "init", "-q")
    with pytest.raises(UsageError, match="unknown git ref 'HEAD'"):
        read_values_from_git(path)


def test_large_and_binary_blobs_become_validation_errors(tmp_path: Path) -> None:
    path = tmp_path / "r"
    make_repo(path, {VALUES: "# " + "x" * (2 * 1024 * 1024) + "\n"}, author=ALICE)
    with pytest.raises(ValuesTooLarge, match=r"2097155 bytes, larger than the 1 MiB limit") as raised:
        read_values_from_git(path)  # refused by its size before it is loaded (test_hostile_git.py)
    assert raised.value.exit_code == ExitCode.INVALID_SETTINGS
    commit(path, {VALUES: "# " + "x" * (1024 * 1024 - 3) + "\n"}, author=ALICE)
    assert len(read_values_from_git(path).text) == 1024 * 1024  # the limit itself is fine
    commit(path, {VALUES: b"global:\n  timeZone: \xff\xfe\n"}, author=BOB)
    result = validate_values_text(read_values_from_git(path).text)
    assert not result.valid and result.errors[0].field == "values.yaml"


def test_is_ancestor(repo: tuple[Path, list[str]]) -> None:
    path, shas = repo
    assert is_ancestor(path, shas[0], shas[2]) is True
    assert is_ancestor(path, shas[2], shas[0]) is False
    assert is_ancestor(path, shas[1], shas[1]) is True
    assert is_ancestor(path, "f" * 40, shas[0]) is None
    assert is_ancestor(path, shas[0], "nonsense") is None


def test_plain_file(tmp_path: Path) -> None:
    f = tmp_path / "values.yaml"
    f.write_text(values("0 4 * * *"))
    assert read_values_file(f) == ValuesSource(values("0 4 * * *"), str(f), None, None)
    assert read_values_file(f).to_json() is None
    with pytest.raises(UsageError, match="not found"):
        read_values_file(tmp_path / "missing.yaml")
    with pytest.raises(UsageError, match="directory"):
        read_values_file(tmp_path)


def test_init_with_files_commits_everything_with_the_given_author(tmp_path: Path) -> None:
    from provisioner.gitsource import Author, init_with_files, read_values_from_git

    repo = tmp_path / "r"
    (repo / "deploy-templates").mkdir(parents=True)
    (repo / "deploy-templates" / "values.yaml").write_text("global: {}\n")
    commit = init_with_files(repo, "first\n", Author("Demo Admin", "admin@example.internal"))
    source = read_values_from_git(repo)
    assert source.commit == commit and source.text == "global: {}\n"
    assert source.author is not None and source.author.to_json() == {
        "name": "Demo Admin",
        "email": "admin@example.internal",
    }
