from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.settings.model import BackupSettings
from provisioner.settings.policy import DEFAULT_POLICY, Policy
from provisioner.settings.strict_yaml import FieldError
from provisioner.settings.values import ValidationResult, validate_values_text, written_backup_values

NOW = datetime(2026, 11, 22, 10, tzinfo=UTC)
EXAMPLE = (
    Path(__file__).resolve().parents[2] / "examples" / "demo-registry" / "deploy-templates" / "values.yaml"
)


def values(
    enabled: str = "true", schedule: str = '"30 19 * * *"', expires: str = "7", tz: str = "Europe/Kiev"
) -> str:
    return (
        "global:\n"
        f"  timeZone: {tz}\n"
        "  registryBackup:\n"
        f"    enabled: {enabled}\n"
        f"    schedule: {schedule}\n"
        f"    expiresInDays: {expires}\n"
    )


def check(text: str, policy: Policy = DEFAULT_POLICY) -> ValidationResult:
    result = validate_values_text(text, policy, now=NOW)
    assert result.valid == (result.settings is not None)
    return result


def only_error(text: str) -> FieldError:
    result = check(text)
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


def test_example_values_file() -> None:
    result = check(EXAMPLE.read_text())
    assert result.settings == BackupSettings(True, "30 19 * * *", 7, "Europe/Kiev")
    assert result.settings.expires_in_hours == 168
    assert result.settings.to_json() == {
        "enabled": True,
        "schedule": "30 19 * * *",
        "expiresInDays": 7,
        "expiresInHours": 168,
        "timeZone": "Europe/Kiev",
    }
    assert result.warnings == () and result.time_zone == "Europe/Kiev" and result.schedule is not None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# nothing\n",
        "other: 1\n",
        "global: {}\n",
        "global:\n  registryBackup: {}\n",
        "global:\n  other: [1]\n",
    ],
)
def test_defaults(text: str) -> None:
    result = check(text)
    assert result.settings == BackupSettings(False, "30 19 * * *", 7, "Europe/Kiev")


def test_policy_defaults_apply() -> None:
    policy = Policy(
        default_enabled=True,
        default_schedule="0 2 * * *",
        default_expires_in_days=30,
        default_time_zone="UTC",
        min_expires_in_days=14,
        min_interval_minutes=120,
    )
    assert check("", policy).settings == BackupSettings(True, "0 2 * * *", 30, "UTC")
    err = check(values(expires="10"), policy).errors[0]
    assert err.field == "global.registryBackup.expiresInDays" and "minimum retention of 14" in err.message
    err = check(values(schedule='"0 */1 * * *"'), policy).errors[0]
    assert "every 60 minutes" in err.message and "120" in err.message


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("false", False), ("True", True), ("FALSE", False)]
)
def test_enabled_booleans(raw: str, expected: bool) -> None:
    result = check(values(enabled=raw))
    assert result.settings is not None and result.settings.enabled is expected


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("yes", "YAML 1.1 boolean"),
        ("no", "YAML 1.1 boolean"),
        ("on", "YAML 1.1 boolean"),
        ("Off", "YAML 1.1 boolean"),
        ('"true"', "is a string"),
        ("'false'", "remove the quotes"),
        ("1", "is an integer"),
        ("0", "is an integer"),
        ("1.0", "is a float"),
        ("~", "null"),
        ("", "null"),
        ("[true]", "a list"),
        ("{a: 1}", "a mapping"),
        ("!!str true", "is a string"),
        ("enabled", "is a string"),
    ],
)
def test_enabled_rejected(raw: str, needle: str) -> None:
    err = only_error(values(enabled=raw))
    assert err.field == "global.registryBackup.enabled" and err.line == 4
    assert needle in err.message


@pytest.mark.parametrize(("raw", "days"), [("7", 7), ("30", 30), ("3650", 3650), ("+8", 8)])
def test_expires_accepted(raw: str, days: int) -> None:
    result = check(values(expires=raw))
    assert result.settings is not None and result.settings.expires_in_days == days
    assert result.settings.expires_in_hours == 24 * days


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ('"7"', "'7' is a string"),
        ("'7'", "is a string"),
        ("7.0", "7.0 is a float"),
        ("7e0", "is a string"),  # PyYAML (YAML 1.1) needs a dot
        (".inf", "is a float"),
        (".nan", "is a float"),
        ("true", "true is a boolean"),
        ("7d", "'7d' is a string"),
        ("6", "6 is below the minimum retention of 7 days"),
        ("0", "below the minimum"),
        ("-7", "below the minimum"),
        ("3651", "above the maximum of 3650"),
        ("99999999999999999999999999999", "out of range"),
        ("9" * 5000, "out of range"),
        ("0x10", "not a plain decimal integer"),
        ("0o17", "is a string"),  # YAML 1.2 octal: a string for YAML 1.1
        ("010", "not a plain decimal integer"),
        ("1_000", "not a plain decimal integer"),
        ("1:30", "not a plain decimal integer"),
        ("~", "null"),
        ("[7]", "a list"),
        ("$(rm -rf /)", "is a string"),
    ],
)
def test_expires_rejected(raw: str, needle: str) -> None:
    err = only_error(values(expires=raw))
    assert err.field == "global.registryBackup.expiresInDays" and err.line == 6
    assert needle in err.message
    assert "7 to 3650" in err.message


@pytest.mark.parametrize(
    "raw", ['"0 * * * *"', "'@hourly'", '"@daily"', '"  30 19 * * *\t"', "0 4 * * 1", '"0 0 1 * 1"']
)
def test_schedule_accepted(raw: str) -> None:
    result = check(values(schedule=raw))
    assert result.settings is not None
    assert result.settings.schedule == raw.strip("\"'").strip(" \t")


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ('"*/30 * * * *"', "every 30 minutes"),
        ('"0,30 * * * *"', "every 30 minutes"),
        ('"0-5 * * * *"', "every 1 minute;"),
        ('"H H * * *"', "hash"),
        ('"0 0 30 2 *"', "never fires"),
        ('"@reboot"', "@reboot"),
        ("5", "5 is an integer"),
        ("~", "null"),
        ("[0, 0]", "a list"),
        ('"0 0 * * *\\n0 1 * * *"', "line break"),
        ('"$(id) * * * *"', "'$'"),
        ("|\n      0 0 * * *", "line break"),
        ('"' + "1" * 101 + '"', "longer than 100"),
        ('"0 0 * * * </spec>"', "'<'"),
    ],
)
def test_schedule_rejected(raw: str, needle: str) -> None:
    err = only_error(values(schedule=raw))
    assert err.field == "global.registryBackup.schedule" and err.line == 5
    assert needle in err.message


def test_schedule_across_midnight_counts_the_gap_to_the_next_day() -> None:
    assert check(values(schedule='"0 0,23 * * *"')).valid  # 23:00 -> 00:00 is 60 minutes
    assert check(values(schedule='"30 0,23 * * *"')).valid
    policy = Policy(min_interval_minutes=61)
    err = check(values(schedule='"0 0,23 * * *"'), policy).errors[0]
    assert "every 60 minutes" in err.message and "61" in err.message


def test_explicit_standard_int_tag_is_an_integer() -> None:
    result = check(values(expires="!!int '9'"))
    assert result.settings is not None and result.settings.expires_in_days == 9


@pytest.mark.parametrize(
    "tz",
    ["Europe/Kiev", "Europe/Kyiv", "UTC", "America/New_York", "Etc/GMT+2", "EST5EDT", "Asia/Kolkata", "GMT"],
)
def test_time_zone_accepted(tz: str) -> None:
    result = check(values(tz=tz))
    assert result.settings is not None and result.settings.time_zone == tz


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("europe/kiev", "case-sensitive: did you mean 'Europe/Kiev'"),
        ("EUROPE/KYIV", "case-sensitive"),
        ("localtime", "not an IANA"),
        ("posixrules", "not an IANA"),
        ("Factory", "not an IANA"),
        ("posix/Europe/Kiev", "not an IANA"),
        ("right/UTC", "not an IANA"),
        ("/usr/share/zoneinfo/UTC", "path"),
        ("../../etc/passwd", "path"),
        ("UTC+3", "not an IANA"),
        ("'<+03>-3'", "not an IANA"),
        ("EST5", "not an IANA"),
        ("GMT+0", "not an IANA"),
        ("Mars/Olympus", "not an IANA"),
        ('"Europe/Kiev\\n30 * * * *"', "control"),
        ('"Europe/Kiev "', "blanks"),
        ('""', "empty"),
        ("3", "is an integer"),
        ("~", "null"),
    ],
)
def test_time_zone_rejected(raw: str, needle: str) -> None:
    err = only_error(values(tz=raw))
    assert err.field == "global.timeZone" and err.line == 2
    assert needle in err.message


def test_unknown_and_duplicate_keys() -> None:
    text = values() + "    expireInDays: 8\n"
    err = only_error(text)
    assert err.field == "global.registryBackup.expireInDays" and err.line == 7
    assert "did you mean 'expiresInDays'" in err.message
    err = only_error(values() + "    enabled: false\n")
    assert err.field == "global.registryBackup.enabled" and err.line == 7 and "duplicate key" in err.message
    err = only_error(values() + "  timeZone: UTC\n")
    assert err.field == "global.timeZone" and err.line == 7 and "duplicate" in err.message
    err = only_error(values() + "global: {}\n")
    assert err.field == "global" and err.line == 7
    # duplicates elsewhere are ignored, as is the rest of the file
    assert check(values() + "other: 1\nother: 2\n").valid


def test_merge_keys_and_non_string_keys_are_unknown() -> None:
    text = "defaults: &d {enabled: true}\nglobal:\n  registryBackup:\n    <<: *d\n"
    err = only_error(text)
    assert err.field == "global.registryBackup.<<" and err.line == 4
    err = only_error("global:\n  registryBackup:\n    1: x\n")
    assert err.field == "global.registryBackup.1"


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("global: 5\n", "global", 1),
        ("global: [1]\n", "global", 1),
        ("global:\n", "global", 1),
        ("global:\n  registryBackup: true\n", "global.registryBackup", 2),
        ("global:\n  registryBackup:\n  - enabled\n", "global.registryBackup", 3),
        ("- 1\n- 2\n", "values.yaml", 1),
        ("just text\n", "values.yaml", 1),
    ],
)
def test_not_mappings(text: str, field: str, line: int) -> None:
    err = only_error(text)
    assert (err.field, err.line) == (field, line)


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        ("global: [\n", "not valid YAML", 2),
        ("global:\n  registryBackup:\n    enabled: true\n   schedule: x\n", "not valid YAML", 4),
        ("a: 1\n---\nb: 2\n", "not valid YAML", 2),
        ("a: !!python/object/apply:os.system ['id']\n", "non-standard YAML tag", 1),
        ("a: !!python/name:os.system\n", "non-standard", 1),
        ("x: 1\nglobal: !custom {a: 1}\n", "non-standard", 2),
        ("global:\n  registryBackup:\n    enabled: !!set {a}\n", "non-standard", 3),
        ("a: *unknown\n", "not valid YAML", 1),
        ("a: \x07\n", "not valid YAML", None),
        ("a: b\tc: d\n\t- x\n", "not valid YAML", None),
    ],
)
def test_bad_yaml(text: str, needle: str, line: int | None) -> None:
    err = only_error(text)
    assert err.field == "values.yaml" and needle in err.message
    if line is not None:
        assert err.line == line


def test_size_limit() -> None:
    filler = "# " + "x" * 1000 + "\n"
    big = values() + filler * 1100
    err = only_error(big)
    assert "1 MiB" in err.message and err.field == "values.yaml"
    just_under = values() + "#" * (1024 * 1024 - len(values()) - 1) + "\n"
    assert len(just_under.encode()) == 1024 * 1024 and check(just_under).valid


def test_billion_laughs_is_cheap() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 30)]
    assert check("\n".join(lines) + "\n" + values()).valid


def test_errors_are_sorted_by_line_and_everything_is_reported() -> None:
    text = values(enabled="yes", schedule='"* * * * *"', expires='"7"', tz="utc") + "    foo: 1\n"
    result = check(text)
    assert [e.line for e in result.errors] == [2, 4, 5, 6, 7]
    assert result.schedule is None and result.time_zone is None and result.settings is None


def test_preview_fields_on_invalid_settings() -> None:
    result = check(values(expires="3"))
    assert not result.valid and result.schedule is not None and result.time_zone == "Europe/Kiev"


def test_dst_warning_in_validation() -> None:
    result = check(values(schedule='"30 3 * * *"'))
    assert result.valid and any("2027-03-28" in w for w in result.warnings)


def test_disabled_but_valid() -> None:
    result = check(values(enabled="false"))
    assert result.valid and result.settings is not None and not result.settings.enabled


_HOSTILE = st.sampled_from(
    [
        "$(id)",
        "`id`",
        ";",
        "\n",
        "</spec>",
        "!!python/object:os.system",
        "!x",
        "&a",
        "*a",
        "{",
        "[",
        "'",
        '"',
        "\t",
        "\x00",
        "\x1b",
        "\ufeff",
        "yes",
        "~",
        "7.0",
        "0x7",
        "1e9",
        "9" * 50,
        "-",
        ":",
        "? ",
        "%YAML 1.1\n---\n",
        "<<",
        "#",
        "@",
        "|",
        ">",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_HOSTILE, st.text(max_size=5)), max_size=4).map("".join), st.integers(0, 3))
def test_hostile_values_in_every_field_never_crash(payload: str, which: int) -> None:
    kwargs = {0: "enabled", 1: "schedule", 2: "expires", 3: "tz"}
    text = values(**{kwargs[which]: payload})
    result = check(text)
    for err in result.errors:
        assert err.message and err.field
        assert err.line is None or err.line >= 1


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_documents_never_crash(text: str) -> None:
    result = check(text)
    assert result.valid or result.errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            values(schedule='"*/30 * * * *"', expires="7d"),
            {"enabled": "true", "schedule": "*/30 * * * *", "expiresInDays": "7d"},
        ),
        ("global:\n  registryBackup:\n    schedule: [1]\n    other: x\n", {}),
        ("global: 5\n", {}),
        ("{", {}),
        ("", {}),
    ],
)
def test_written_backup_values(text: str, expected: dict[str, str]) -> None:
    assert written_backup_values(text) == expected
