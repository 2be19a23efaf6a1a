from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.errors import ExitCode, UsageError
from provisioner.settings.policy import (
    DEFAULT_JOB_OPTIONS,
    DEFAULT_POLICY,
    InvalidPolicy,
    JobOptions,
    Policy,
    is_credential_id,
)
from provisioner.settings.policy_file import load_policy, parse_policy_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"


def test_default_policy() -> None:
    assert (
        Policy(
            default_enabled=False,
            default_schedule="30 19 * * *",
            default_expires_in_days=7,
            default_time_zone="Europe/Kiev",
            min_expires_in_days=7,
            min_interval_minutes=60,
            max_expires_in_days=3650,
        )
        == DEFAULT_POLICY
    )
    assert load_policy(None) is DEFAULT_POLICY


def test_example_policy_file() -> None:
    assert load_policy(EXAMPLE) == DEFAULT_POLICY


def test_raised_policy() -> None:
    text = (
        "defaults:\n  enabled: true\n  schedule: '0 2 * * *'\n  expiresInDays: 30\n  timeZone: UTC\n"
        "minimums:\n  expiresInDays: 14\n  intervalMinutes: 240\n"
    )
    assert parse_policy_text(text) == Policy(True, "0 2 * * *", 30, "UTC", 14, 240, 3650)
    assert parse_policy_text("") == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("minimums:\n  expiresInDays: 6\n", "greater than or equal to 7"),
        ("minimums:\n  intervalMinutes: 59\n", "greater than or equal to 60"),
        ("minimums:\n  intervalMinutes: 1441\n", "less than or equal to 1440"),
        ("minimums:\n  expiresInDays: '14'\n", "valid integer"),
        ("minimums:\n  expiresInDays: 14.0\n", "valid integer"),
        ("minimums:\n  expiresInDays: true\n", "valid integer"),
        ("minimums:\n  expiresInDays: 0x10\n", "not a plain decimal"),
        ("defaults:\n  enabled: yes\n", "YAML 1.1 boolean"),
        ("defaults:\n  enabled: 1\n", "valid boolean"),
        ("defaults:\n  schedule: 5\n", "valid string"),
        ("defaults:\n  schedule: '*/5 * * * *'\n", "more often than"),
        ("defaults:\n  schedule: 'H H * * *'\n", "hash"),
        ("defaults:\n  timeZone: europe/kiev\n", "case-sensitive"),
        ("defaults:\n  expiresInDays: 3\n", "outside 7..3650"),
        ("minimums:\n  expiresInDays: 14\n", "outside 14..3650"),  # default 7 is now below the minimum
        ("defaults:\n  expireInDays: 7\n", "Extra inputs are not permitted"),
        ("maximums: {}\n", "Extra inputs are not permitted"),
        ("defaults: [1]\n", "defaults"),
        ("- 1\n", "valid dictionary"),
        ("defaults:\n  enabled: true\n  enabled: false\n", "duplicate key"),
        ("defaults: !!python/object:os.system {}\n", "non-standard YAML tag"),
        ("defaults: [\n", "not valid YAML"),
        ("defaults:\n  timeZone: 2001-01-01\n", "timestamp"),
    ],
)
def test_invalid_policies(text: str, needle: str) -> None:
    with pytest.raises(InvalidPolicy) as info:
        parse_policy_text(text, source="p.yaml")
    assert needle in info.value.message
    assert info.value.exit_code == ExitCode.USAGE


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_policy(tmp_path / "nope.yaml")
    with pytest.raises(UsageError, match="cannot read"):
        load_policy(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(InvalidPolicy, match="UTF-8"):
        load_policy(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_expires_in_days": 6},
        {"min_interval_minutes": 59},
        {"max_expires_in_days": 3651},
        {"min_expires_in_days": 30, "max_expires_in_days": 20},
    ],
)
def test_hard_floors_hold_for_every_policy_object(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must"):
        Policy(**kwargs)  # type: ignore[arg-type]


def test_jobs_section() -> None:
    text = (
        "jobs:\n  timeoutMinutes: 90\n  notifyCredentialId: backup-webhook\n  pingCredentialId: hc_1.ping\n"
    )
    assert parse_policy_text(text).jobs == JobOptions(90, "backup-webhook", "hc_1.ping")
    assert parse_policy_text("jobs: {}\n").jobs == DEFAULT_JOB_OPTIONS == JobOptions(240, None, None)
    assert parse_policy_text("jobs:\n  notifyCredentialId: null\n").jobs == DEFAULT_JOB_OPTIONS


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("jobs:\n  timeoutMinutes: '240'\n", "valid integer"),
        ("jobs:\n  timeoutMinutes: 240.0\n", "valid integer"),
        ("jobs:\n  timeoutMinutes: true\n", "valid integer"),
        ("jobs:\n  timeoutMinutes: 4\n", "greater than or equal to 5"),
        ("jobs:\n  timeoutMinutes: 1441\n", "less than or equal to 1440"),
        ("jobs:\n  notifyCredentialId: 7\n", "valid string"),
        ("jobs:\n  notifyCredentialId: ''\n", "should match pattern"),
        ('jobs:\n  notifyCredentialId: "a\'b"\n', "should match pattern"),
        ("jobs:\n  pingCredentialId: 'a b'\n", "should match pattern"),
        ("jobs:\n  pingCredentialId: '${env.X}'\n", "should match pattern"),
        ('jobs:\n  pingCredentialId: "id\\n"\n', "should match pattern"),
        ("jobs:\n  pingCredentialId: '-x'\n", "should match pattern"),
        ("jobs:\n  pingCredentialId: 'https://hc-ping.com/uuid'\n", "should match pattern"),
        ("jobs:\n  pingCredentialId: " + "a" * 129 + "\n", "should match pattern"),
        ("jobs:\n  notifyUrl: https://example.com/hook\n", "Extra inputs are not permitted"),
    ],
)
def test_invalid_jobs_section(text: str, needle: str) -> None:
    with pytest.raises(InvalidPolicy) as info:
        parse_policy_text(text, source="p.yaml")
    assert needle in info.value.message


@given(st.text(max_size=140))
def test_credential_ids_are_safe_in_single_quoted_groovy(text: str) -> None:
    if is_credential_id(text):
        assert not set(text) & set("'\"\\$ \t\r\n{}") and 1 <= len(text) <= 128
        assert JobOptions(notify_credential_id=text).notify_credential_id == text
    else:
        with pytest.raises(ValueError, match="must match"):
            JobOptions(ping_credential_id=text)
