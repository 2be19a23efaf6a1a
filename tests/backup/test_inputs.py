"""Validators: exact rules, strict types, property tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.backup import inputs
from provisioner.backup.errors import InvalidInput

DNS = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@pytest.mark.parametrize("name", ["a", "demo", "registry-1", "0", "a" * 63, "x-y-z9"])
def test_registry_accepts_dns_labels(name: str) -> None:
    assert inputs.check_registry(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "A",
        "Demo",
        "-a",
        "a-",
        "a_b",
        "a.b",
        "a" * 64,
        "a b",
        "é",
        "a\n",
        "\na",
        "\uff41",  # fullwidth a
        "$(x)",
        "a;b",
        None,
    ],
)
def test_registry_rejects(name: str | None) -> None:
    with pytest.raises(InvalidInput) as err:
        inputs.check_registry(name)
    assert err.value.argument == "--registry"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=70))
def test_registry_property(text: str) -> None:
    ok = len(text) <= 63 and DNS.fullmatch(text) is not None and text.isascii()
    if ok:
        assert inputs.check_registry(text) == text
    else:
        with pytest.raises(InvalidInput):
            inputs.check_registry(text)


@pytest.mark.parametrize(("text", "hours"), [("168", 168), ("87600", 87600), ("720", 720), ("8760", 8760)])
def test_hours_accepts(text: str, hours: int) -> None:
    assert inputs.check_expires_in_hours(text) == hours


@pytest.mark.parametrize(
    "text",
    [
        "167", "87601", "0", "-168", "+168", " 168", "168 ", "168\n", "1_68", "1e3", "168.0", "7.0", "0168",
        "\u0667\u0660\u0660", "\u0661\u0666\u0668", "\uff11\uff16\uff18", "\U0001d7cf\U0001d7d4\U0001d7d6",
        "\u00b2\u2070\u2070", "0x10", "true", "", "999999999999999999999", "9" * 5000, "168;id",
    ],
)  # fmt: skip
def test_hours_rejects(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        inputs.check_expires_in_hours(text)
    assert "--expires-in-hours" in err.value.message


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_hours_property_integers(n: int) -> None:
    if 168 <= n <= 87600:
        assert inputs.check_expires_in_hours(str(n)) == n
    else:
        with pytest.raises(InvalidInput):
            inputs.check_expires_in_hours(str(n))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=8))
def test_hours_property_text(text: str) -> None:
    ok = re.fullmatch(r"[1-9][0-9]*", text, re.ASCII) is not None and 168 <= int(text) <= 87600
    if ok:
        assert inputs.check_expires_in_hours(text) == int(text)
    else:
        with pytest.raises(InvalidInput):
            inputs.check_expires_in_hours(text)


@pytest.mark.parametrize("value", ["20261122T193000Z", "20261122T193000Z-01"])
def test_backup_id_accepts(value: str) -> None:
    assert inputs.check_backup_id(value) == value


@pytest.mark.parametrize(
    "value", ["", "2026", "20261122T193000Z\n", "../20261122T193000Z", "20261122T193000Z-1", "٢"]
)
def test_backup_id_rejects(value: str) -> None:
    with pytest.raises(InvalidInput):
        inputs.check_backup_id(value)


@pytest.mark.parametrize("value", ["registry_db", "db-1", "X"])
def test_pg_database_accepts(value: str) -> None:
    assert inputs.check_pg_database(value) == value


@pytest.mark.parametrize(
    "value", ["", "-d", "--help", "host=evil dbname=x", "postgresql://evil/x", "a b", "a;b", "d" * 64, "é"]
)
def test_pg_database_rejects(value: str) -> None:
    with pytest.raises(InvalidInput):
        inputs.check_pg_database(value)


def test_store_is_resolved(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert inputs.check_store(str(tmp_path / "alias")) == (tmp_path / "real").resolve()
    assert inputs.check_store(str(tmp_path / "real" / ".." / "new")) == (tmp_path / "new").resolve()


def test_store_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInput):
        inputs.check_store(str(tmp_path / "file"))


def test_registry_folder_symlink_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "demo").symlink_to(tmp_path)
    with pytest.raises(InvalidInput):
        inputs.registry_dir(store.resolve(), "demo")


@pytest.mark.parametrize(
    "value", ["a\x00b", "a\nb", "$(x)", "`x`", "a;b", "a|b", "a&b", "a*b", "é", "x" * 5000]
)
def test_path_text_rejected(value: str) -> None:
    with pytest.raises(InvalidInput):
        inputs.check_store(value)
    with pytest.raises(InvalidInput):
        inputs.check_source_dir(value)
    with pytest.raises(InvalidInput):
        inputs.check_restic_repo(value)


def test_restic_repo_forms(tmp_path: Path) -> None:
    assert inputs.check_restic_repo("rest:https://host:8000/repo") == "rest:https://host:8000/repo"
    assert inputs.check_restic_repo(str(tmp_path / "r")) == str((tmp_path / "r").resolve())
    with pytest.raises(InvalidInput):
        inputs.check_restic_repo("--password-command=id")


@pytest.mark.parametrize(("text", "jobs"), [("1", 1), ("2", 2), ("9", 9), ("16", 16)])
def test_jobs_accepts(text: str, jobs: int) -> None:
    assert inputs.check_jobs(text) == jobs


@pytest.mark.parametrize(
    "text", ["", "0", "01", "17", "64", "100", "-1", "+2", " 2", "2 ", "2.0", "٢", "0x2"]
)
def test_jobs_rejects(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        inputs.check_jobs(text)
    assert exc.value.argument == "--jobs"


@given(st.text(max_size=4))
@settings(max_examples=300)
def test_jobs_property(text: str) -> None:
    """Accepted exactly when the text is how Python would print an int from 1 to 16."""
    expected = next((n for n in range(1, 17) if str(n) == text), None)
    if expected is None:
        with pytest.raises(InvalidInput):
            inputs.check_jobs(text)
    else:
        assert inputs.check_jobs(text) == expected
