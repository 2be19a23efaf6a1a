"""set_backup_settings: only global.registryBackup changes, every other byte stays."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.settings.values import validate_values_text
from provisioner.upgrade.edit import EditError, NewSettings, set_backup_settings

EXAMPLE = (
    Path(__file__).resolve().parents[2] / "examples/demo-registry/deploy-templates/values.yaml"
).read_text()
NEW = NewSettings(False, "30 3 * * 1-5", 30)


def changed_lines(old: str, new: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_in_place_keeps_comments_and_quoting() -> None:
    out = set_backup_settings(EXAMPLE, NEW)
    assert changed_lines(EXAMPLE, out) == [
        "-    enabled: true",
        '-    schedule: "30 19 * * *"   # unix cron, 5 fields, in global.timeZone',
        "-    expiresInDays: 7          # retention; the backup system works in hours (168)",
        "+    enabled: false",
        '+    schedule: "30 3 * * 1-5"   # unix cron, 5 fields, in global.timeZone',
        "+    expiresInDays: 30          # retention; the backup system works in hours (168)",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment\n",
        "registry:\n  replicas: 2  # keep\n",
        "global:\n  timeZone: UTC\n",
        "global:\n  timeZone: UTC\n  registryBackup:\n    enabled: true\n",
        "global: {timeZone: UTC}\n",
        "global:\n  registryBackup: {enabled: true, schedule: '0 1 * * *', expiresInDays: 9}\n",
        "global:\n  registryBackup:\n    enabled: yes\n"
        "    schedule: |\n      0 0 * * *\n    expiresInDays: '7'\n",
    ],
)
def test_other_shapes_take_the_round_trip_and_validate(text: str) -> None:
    out = set_backup_settings(text, NEW)
    result = validate_values_text(out)
    assert result.settings is not None
    assert (result.settings.enabled, result.settings.schedule, result.settings.expires_in_days) == (
        False,
        "30 3 * * 1-5",
        30,
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("- a list\n", "not a mapping"),
        ("global: 5\n", "not a mapping"),
        ("global:\n  timeZone: Mars/Base\n", "other problems"),
        ("global:\n  registryBackup:\n    enabled: true\n    expireInDays: 7\n", "other problems"),
    ],
)
def test_files_that_cannot_take_the_settings(text: str, needle: str) -> None:
    with pytest.raises(EditError, match=needle):
        set_backup_settings(text, NEW)


def test_an_anchor_shared_with_other_keys_is_not_rewritten_behind_their_back() -> None:
    text = (
        "global:\n  registryBackup:\n    enabled: true\n"
        "    schedule: &s '0 1 * * *'\n    expiresInDays: 7\nother: *s\n"
    )
    with pytest.raises(EditError, match=r"elsewhere|cannot take"):
        set_backup_settings(text, NEW)


@settings(max_examples=60, deadline=None)
@given(
    enabled=st.booleans(),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    days=st.integers(7, 3650),
)
def test_any_valid_settings_change_at_most_three_lines(
    enabled: bool, hour: int, minute: int, days: int
) -> None:
    new = NewSettings(enabled, f"{minute} {hour} * * *", days)
    out = set_backup_settings(EXAMPLE, new)
    assert len(changed_lines(EXAMPLE, out)) <= 6
    result = validate_values_text(out)
    assert result.settings is not None and result.settings.expires_in_days == days
    assert result.settings.enabled is enabled and result.settings.schedule == new.schedule
    assert out.splitlines()[-4:] == EXAMPLE.splitlines()[-4:]
