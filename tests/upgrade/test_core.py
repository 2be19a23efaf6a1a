"""The pure upgrade core: settings carried over, the rest of the incoming file kept line for line."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.settings.values import validate_values_text
from provisioner.upgrade.carry import UpgradeError, upgrade_values_text
from tests.upgrade.shapes import CURRENT, INCOMING, carried_lines, changed_lines


def _view(text: str) -> object:
    result = validate_values_text(text)
    if result.settings is not None:
        return result.settings
    return sorted((e.field, e.message) for e in result.errors)


@pytest.mark.parametrize("shape", sorted(INCOMING))
def test_upgraded_file_keeps_the_current_settings(shape: str) -> None:
    incoming = INCOMING[shape]
    result = upgrade_values_text(CURRENT, incoming)
    assert validate_values_text(CURRENT).valid
    assert _view(result.text) == _view(CURRENT)
    assert result.carried_over == {
        "global.timeZone": "Europe/Kiev",
        "global.registryBackup": {"enabled": True, "schedule": "30 19 * * *", "expiresInDays": 7},
    }
    assert result.warnings == ()
    assert not result.unchanged


@pytest.mark.parametrize("shape", sorted(INCOMING))
def test_diff_against_incoming_shows_only_carried_lines(shape: str) -> None:
    incoming = INCOMING[shape]
    out = upgrade_values_text(CURRENT, incoming).text
    removed, added = changed_lines(incoming, out)
    if shape == "flow-style":  # the whole global mapping is one line
        assert removed == {0} and added == {0}
        assert out.splitlines()[1:] == incoming.splitlines()[1:]
        return
    assert removed <= carried_lines(incoming), (removed, out)
    allowed = carried_lines(out)
    if "global" not in incoming:  # the new global: line itself
        allowed.add(out.splitlines().index("global:"))
    assert added <= allowed, (added, out)


@pytest.mark.parametrize("shape", sorted(INCOMING))
def test_idempotent_byte_for_byte(shape: str) -> None:
    once = upgrade_values_text(CURRENT, INCOMING[shape])
    twice = upgrade_values_text(CURRENT, once.text)
    assert twice.text == once.text
    assert twice.unchanged and twice.changed == () and twice.removed == ()


def test_current_formatting_and_comments_travel_with_the_settings() -> None:
    out = upgrade_values_text(CURRENT, INCOMING["key-order-changed"]).text
    assert '    schedule: "30 19 * * *"   # unix cron, 5 fields, in global.timeZone\n' in out
    assert "    # defaults of the new chart\n    expiresInDays: 7 " in out  # the incoming file's line
    assert "  # the zone of every schedule\n  timeZone: Europe/Kiev\n" in out  # comment above stays
    assert "  newFeature: true   # added in 2.0\n" in out


def test_added_settings_go_into_a_new_global_at_the_end() -> None:
    out = upgrade_values_text(CURRENT, INCOMING["missing-global"]).text
    assert out == INCOMING["missing-global"].replace(
        "# end of file\n",
        "global:\n  timeZone: Europe/Kiev\n  registryBackup:\n    enabled: true\n"
        '    schedule: "30 19 * * *"   # unix cron, 5 fields, in global.timeZone\n'
        "    expiresInDays: 7          # retention; the backup system works in hours (168)\n"
        "# end of file\n",
    )


def test_registry_backup_added_after_time_zone() -> None:
    out = upgrade_values_text(CURRENT, INCOMING["registry-backup-missing"]).text
    lines = out.splitlines()
    assert lines[1] == "  timeZone: Europe/Kiev"
    assert lines[2] == "  registryBackup:"
    assert lines[6:8] == ["  # the image registry", "  imageRegistry: registry.example.internal"]


def test_flow_style_global_stays_flow() -> None:
    out = upgrade_values_text(CURRENT, INCOMING["flow-style"]).text
    assert out.splitlines()[0].startswith(
        'global: {timeZone: Europe/Kiev, registryBackup: {enabled: true, schedule: "30 19 * * *", '
        "expiresInDays: 7}, imageRegistry: r.example}"
    )
    assert out.splitlines()[0].endswith("# all in one line")


def test_already_upgraded_incoming_is_returned_as_is_even_if_quoted_differently() -> None:
    incoming = CURRENT.replace('"30 19 * * *"', "'30 19 * * *'").replace("replicas: 2", "replicas: 5")
    result = upgrade_values_text(CURRENT, incoming)
    assert result.text == incoming and result.unchanged and result.changed == ()


def test_settings_absent_in_current_are_removed_from_incoming() -> None:
    current = "global:\n  imageRegistry: r\nregistry:\n  replicas: 1\n"
    incoming = INCOMING["same-shape"]
    result = upgrade_values_text(current, incoming)
    assert result.removed == ("global.timeZone", "global.registryBackup")
    assert result.carried_over == {}
    assert "timeZone" not in result.text and "registryBackup" not in result.text
    assert _view(result.text) == _view(current)  # the defaults, as before
    assert upgrade_values_text(current, result.text).unchanged


def test_current_without_global_removes_and_keeps_other_comments() -> None:
    current = "registry:\n  replicas: 1\n"
    incoming = "global:\n  registryBackup:\n    enabled: false\n  # keep me\n  imageRegistry: r\n"
    result = upgrade_values_text(current, incoming)
    assert result.text == "global:\n  # keep me\n  imageRegistry: r\n"
    assert _view(result.text) == _view(current)


def test_only_time_zone_in_current() -> None:
    current = "global:\n  timeZone: Europe/Berlin\n"
    result = upgrade_values_text(current, INCOMING["same-shape"])
    assert result.changed == ("global.timeZone",)
    assert result.removed == ("global.registryBackup",)
    assert _view(result.text) == _view(current)


@pytest.mark.parametrize(
    ("line", "literal"),
    [
        ("expiresInDays: 3", "    expiresInDays: 3\n"),  # below the retention floor
        ("expiresInDays: '7'", "    expiresInDays: '7'\n"),  # a string, not 7
        ("expiresInDays: 7.0", "    expiresInDays: 7.0\n"),  # a float
        ("expiresInDays: 99999999999999999999999", "    expiresInDays: 99999999999999999999999\n"),
        ("enabled: yes", "    enabled: yes\n"),  # YAML 1.1 boolean: not silently turned into true
        ('enabled: "true"', '    enabled: "true"\n'),
        ('schedule: "$(rm -rf /); `id`"', '    schedule: "$(rm -rf /); `id`"\n'),
        ('schedule: "* * * * *"', '    schedule: "* * * * *"\n'),  # every minute: too often
        ('schedule: "0 1 * * *\\n</spec>"', '    schedule: "0 1 * * *\\n</spec>"\n'),
        ("extra: 1", "    extra: 1\n"),  # unknown key
    ],
)
def test_invalid_current_setting_is_carried_verbatim_with_a_warning(line: str, literal: str) -> None:
    current = f"global:\n  timeZone: Europe/Kiev\n  registryBackup:\n    {line}\n"
    assert not validate_values_text(current).valid
    result = upgrade_values_text(current, INCOMING["key-order-changed"])
    assert literal in result.text
    assert result.warnings and all("carried over unchanged" in w for w in result.warnings)
    assert _view(result.text) == _view(current)  # the same errors: nothing was "fixed" silently
    assert upgrade_values_text(current, result.text).text == result.text


def test_invalid_time_zone_is_carried_with_a_warning() -> None:
    current = "global:\n  timeZone: Mars/Olympus\n"
    result = upgrade_values_text(current, INCOMING["same-shape"])
    assert "  timeZone: Mars/Olympus\n" in result.text
    assert any("global.timeZone" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("current", "message"),
    [
        ("global: [\n", "not valid YAML"),
        ("- a\n- b\n", "not a mapping"),
        ("global: 5\n", "global is not a mapping"),
        ("global:\n  registryBackup: !!python/object:os.system {}\n", "non-standard YAML tag"),
        ("global: {}\nglobal: {}\n", "duplicate key 'global'"),
        ("global:\n  timeZone: UTC\n  timeZone: Europe/Kiev\n", "cannot be read"),
    ],
)
def test_unusable_current_file_is_an_error_with_a_line(current: str, message: str) -> None:
    with pytest.raises(UpgradeError) as info:
        upgrade_values_text(current, INCOMING["same-shape"])
    assert message in info.value.message
    assert info.value.line is not None


def test_unusable_incoming_file_is_an_error() -> None:
    with pytest.raises(UpgradeError, match="global is not a mapping"):
        upgrade_values_text(CURRENT, "global: just text\n")
    with pytest.raises(UpgradeError, match="not valid YAML"):
        upgrade_values_text(CURRENT, "a: b: c\n")


def test_many_aliases_elsewhere_stay_cheap() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    incoming = "\n".join(lines) + "\n"
    result = upgrade_values_text(CURRENT, incoming)
    assert result.text.startswith(incoming)


_SCHEDULES = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schedule=_SCHEDULES, days=st.integers(-(10**15), 10**15), enabled=st.sampled_from(["true", "no", '"x"'])
)
def test_any_current_values_keep_their_meaning(schedule: str, days: int, enabled: str) -> None:
    quoted = '"' + schedule.replace("\\", "\\\\").replace('"', '\\"') + '"'
    current = (
        f"global:\n  registryBackup:\n    enabled: {enabled}\n"
        f"    schedule: {quoted}\n    expiresInDays: {days}\n"
    )
    try:
        result = upgrade_values_text(current, INCOMING["key-order-changed"])
    except UpgradeError as exc:  # only for text YAML itself refuses
        assert "not valid YAML" in exc.message
        return
    assert _view(result.text) == _view(current)
    assert upgrade_values_text(current, result.text).text == result.text


def test_windows_line_ends_are_kept() -> None:
    incoming = INCOMING["same-shape"].replace("\n", "\r\n")
    out = upgrade_values_text(CURRENT, incoming).text
    assert out.count("\r\n") == out.count("\n")
    removed, _added = changed_lines(incoming, out)
    assert removed <= carried_lines(incoming)


def test_alias_in_current_is_carried_as_its_value() -> None:
    current = "base: &base {enabled: true}\nglobal:\n  registryBackup: *base\n"
    result = upgrade_values_text(current, INCOMING["same-shape"])
    assert "  registryBackup: {enabled: true}\n" in result.text
    assert _view(result.text) == _view(current)


def test_what_ruamel_cannot_round_trip_is_refused_not_mangled() -> None:
    with pytest.raises(UpgradeError, match="round trip"):
        upgrade_values_text(CURRENT, "global:\n  timeZone: UTC\t# a tab before the comment\n")
    with pytest.raises(UpgradeError, match=r"outside global\.timeZone"):
        upgrade_values_text(CURRENT, "g: &g {a: 1}\nglobal: *g\n")


def test_every_setting_invalid_and_moved_around() -> None:
    current = (
        "global:\n  timeZone: Europe/kyiv\n  registryBackup:\n    enabled: yes\n"
        '    schedule: "*/30 * * * *"\n    expireInDays: 14\n'
    )
    result = upgrade_values_text(current, INCOMING["key-order-changed"])
    assert len(result.warnings) == 4
    assert _view(result.text) == _view(current)
    assert "    expireInDays: 14\n" in result.text and "  timeZone: Europe/kyiv\n" in result.text


COMMENTED = """\
# Helm values of registry 2.0
global:
  timeZone: Europe/Kiev
  registryBackup:
    # set in the admin console
    enabled: false
    # unix cron, in global.timeZone
    schedule: "30 19 * * *"
    expiresInDays: 7   # days
  imageRegistry: registry.example.internal
"""


def test_comment_lines_inside_registry_backup_stay_and_only_differing_values_change() -> None:
    result = upgrade_values_text(CURRENT, COMMENTED)
    assert result.text == COMMENTED.replace("    enabled: false\n", "    enabled: true\n")
    assert result.changed == ("global.registryBackup",)
    assert upgrade_values_text(CURRENT, result.text).unchanged


def test_registry_backup_keys_missing_on_one_side_are_added_or_removed_around_the_comments() -> None:
    current = (
        "global:\n  registryBackup:\n    enabled: true\n"
        '    schedule: "30 19 * * *"   # nightly\n    expiresInDays: 7\n'
    )
    incoming = (
        "global:\n  registryBackup:\n    # set in the admin console\n    enabled: true\n"
        "    # how long backups are kept\n    expiresInDays: 30\n    # removed in 2.1\n    retries: 3\n"
        "  # the image registry\n  imageRegistry: r\n"
    )
    result = upgrade_values_text(current, incoming)
    assert result.text == (
        "global:\n  registryBackup:\n    # set in the admin console\n    enabled: true\n"
        '    schedule: "30 19 * * *"   # nightly\n'
        "    # how long backups are kept\n    expiresInDays: 7\n    # removed in 2.1\n"
        "  # the image registry\n  imageRegistry: r\n"
    )
    assert _view(result.text) == _view(current)
    assert upgrade_values_text(current, result.text).unchanged


def test_registry_backup_in_another_key_order_with_the_same_values_is_unchanged() -> None:
    incoming = CURRENT.replace(
        "    enabled: true\n    schedule:", "    # set in the admin console\n    schedule:"
    ).replace("    expiresInDays: 7 ", "    enabled: true\n    expiresInDays: 7 ")
    assert incoming != CURRENT
    result = upgrade_values_text(CURRENT, incoming)
    assert result.text == incoming and result.unchanged and result.changed == ()
