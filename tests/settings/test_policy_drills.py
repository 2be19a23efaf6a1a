"""The policy's ``drills:`` section: off by default, strict, its schedule checked like a backup schedule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.settings.cron import jenkins_spec_lines, min_interval_minutes, parse_schedule
from provisioner.settings.policy import DEFAULT_POLICY, DrillOptions, InvalidPolicy
from provisioner.settings.policy_file import parse_policy_text


def test_drills_are_off_by_default() -> None:
    assert DEFAULT_POLICY.drills is None
    assert parse_policy_text("").drills is None
    assert parse_policy_text("jobs:\n  timeoutMinutes: 60\n").drills is None


def test_drills_section() -> None:
    policy = parse_policy_text('drills:\n  schedule: " 0 4 * * 0 "\n')
    assert policy.drills == DrillOptions(schedule="0 4 * * 0")
    assert policy.jobs == DEFAULT_POLICY.jobs  # nothing else changes
    assert parse_policy_text("drills: {schedule: '@weekly'}\n").drills == DrillOptions("@weekly")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("drills:\n", "line 1: drills: is empty"),
        ("drills: null\n", "line 1: drills: is empty"),
        ("drills: {}\n", "line 1: drills.schedule: Field required"),
        ("drills: [1]\n", "line 1: drills: Input should be a valid dictionary"),
        ("drills: 'yes'\n", "line 1: drills: Input should be a valid dictionary"),
        ("jobs: {}\ndrills:\n  schedule: 5\n", "line 3: drills.schedule: Input should be a valid string"),
        ("drills:\n  schedule: true\n", "line 2: drills.schedule: Input should be a valid string"),
        ("drills:\n  schedule: '0 4 * * 0'\n  enabled: true\n", "line 3: drills.enabled: Extra inputs"),
        ("drills:\n  schedule: '0 4 * * 0'\n  schedule: '0 5 * * 0'\n", "duplicate key"),
        ("drills:\n  schedule: '*/5 * * * *'\n", "line 2: drills.schedule '*/5 * * * *' runs every 5 min"),
        ("drills:\n  schedule: '0,30 4 * * 0'\n", "runs every 30 minutes"),
        ("drills:\n  schedule: 'H 4 * * 0'\n", "line 2: drills.schedule 'H 4 * * 0': Jenkins hash syntax"),
        ("drills:\n  schedule: '@reboot'\n", "drills.schedule '@reboot'"),
        ("drills:\n  schedule: '0 4 * *'\n", "line 2: drills.schedule '0 4 * *'"),
        ("drills:\n  schedule: ''\n", "line 2: drills.schedule ''"),
        ('drills:\n  schedule: "0 4 * * 0\\n0 5 * * 0"\n', "drills.schedule"),
        ("drills:\n  schedule: \"0 4 * * 0'; sh 'id\"\n", "drills.schedule"),
        ("drills:\n  schedule: '${env.X} 4 * * 0'\n", "drills.schedule"),
        ("drills:\n  schedule: !!python/object:os.system {}\n", "non-standard YAML tag"),
        # The policy's own minimum binds the drill schedule as it binds backup schedules.
        ("minimums:\n  intervalMinutes: 1440\ndrills:\n  schedule: '0 4,16 * * *'\n", "every 720 minutes"),
    ],
)
def test_invalid_drills(text: str, needle: str) -> None:
    with pytest.raises(InvalidPolicy) as info:
        parse_policy_text(text, source="p.yaml")
    assert needle in info.value.message
    assert info.value.message.startswith("policy file p.yaml ")


def test_other_policy_errors_name_their_line_too() -> None:
    with pytest.raises(InvalidPolicy, match=r"line 3: defaults\.schedule '\*/5"):
        parse_policy_text("defaults:\n  enabled: false\n  schedule: '*/5 * * * *'\n")
    with pytest.raises(InvalidPolicy, match=r"line 2: jobs\.notifyUrl: Extra inputs"):
        parse_policy_text("jobs:\n  notifyUrl: https://example.com/hook\n")


_CRON_CHARS = st.sampled_from(list("0123456789*/,-@ HLW?#'\"$\\;`{}\nmonSUNjanwekly"))


_FIELDS = st.sampled_from(["0", "4", "59", "*", "*/2", "*/30", "1-5", "0,30", "sun", "H", "@weekly", "?"])
_SCHEDULES = st.one_of(
    st.lists(_CRON_CHARS, max_size=30).map("".join), st.lists(_FIELDS, max_size=6).map(" ".join)
)


@settings(max_examples=300, deadline=None)
@given(_SCHEDULES)
def test_every_accepted_drill_schedule_is_safe_cron(text: str) -> None:
    """Whatever is written, an accepted drill schedule is unix cron at most hourly whose Jenkins spec
    lines are plain five-field lines (no H, no macro, nothing that could leave the <spec> element)."""
    try:
        policy = parse_policy_text(f"drills:\n  schedule: {text!r}\n".replace("\\", "\\\\"))
    except InvalidPolicy as exc:
        assert exc.message.startswith("policy file policy ")
        return
    assert policy.drills is not None
    schedule = parse_schedule(policy.drills.schedule)
    interval = min_interval_minutes(schedule)
    assert interval is None or interval >= 60
    for line in jenkins_spec_lines(schedule):
        assert len(line.split(" ")) == 5 and "H" not in line and "@" not in line
        assert set(line) <= set("0123456789*/,- ")


@given(st.text(max_size=40))
def test_drill_options_need_a_schedule(text: str) -> None:
    if text.strip(" \t"):
        assert DrillOptions(text).schedule == text
    else:
        with pytest.raises(ValueError, match="non-empty"):
            DrillOptions(text)
