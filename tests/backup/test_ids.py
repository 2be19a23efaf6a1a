"""Backup ids (backup/ids.py) and registry names: one definition each, the same answer everywhere."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.backup.errors import InvalidInput
from provisioner.backup.ids import created_at, is_backup_id, new_backup_id
from provisioner.backup.inputs import check_backup_id, check_registry
from provisioner.names import is_registry_name

NOW = datetime(2026, 11, 22, 19, 30, 5, tzinfo=UTC)


def test_new_ids_sort_in_creation_order_and_read_back() -> None:
    first = new_backup_id(NOW, set())
    second = new_backup_id(NOW, {first})
    assert (first, second) == ("20261122T193005Z", "20261122T193005Z-01")
    assert all(is_backup_id(i) and created_at(i) == NOW for i in (first, second))
    with pytest.raises(RuntimeError):
        new_backup_id(NOW, {first, *(f"{first}-{n:02d}" for n in range(1, 100))})


@pytest.mark.parametrize(
    "text", ["20261122T193005", "20261122T193005Z-1", "2026112T193005Z", "٢0261122T193005Z"]
)
def test_not_ids(text: str) -> None:
    assert not is_backup_id(text)
    with pytest.raises(InvalidInput):
        check_backup_id(text)


@given(st.text(max_size=70) | st.from_regex(r"[a-z0-9-]{1,70}", fullmatch=True))
def test_backup_inputs_and_the_provisioner_agree_on_registry_names(text: str) -> None:
    try:
        check_registry(text)
    except InvalidInput:
        accepted = False
    else:
        accepted = True
    assert accepted == is_registry_name(text)
