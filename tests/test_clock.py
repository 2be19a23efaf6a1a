"""--now/--after: one grammar (provisioner.clock), and both CLIs accept exactly the same texts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner import clock
from provisioner.backup.cli import main as backup_main
from provisioner.backup.cli import parse_now
from provisioner.backup.errors import InvalidInput
from provisioner.commands._source import instant_arg
from provisioner.errors import UsageError
from tests.helpers.cli import CliRun

ACCEPTED = {
    "2026-11-22T19:30:00Z": datetime(2026, 11, 22, 19, 30, tzinfo=UTC),
    "2026-11-22T21:30+02:00": datetime(2026, 11, 22, 21, 30, tzinfo=timezone(timedelta(hours=2))),
    "2026-11-22T14:30:00.25-05:00": datetime(2026, 11, 22, 14, 30, 0, 250000, timezone(timedelta(hours=-5))),
    "1970-01-01T00:00:00Z": datetime(1970, 1, 1, tzinfo=UTC),
}
REFUSED = [
    "2026-11-22T19:30:00",  # no zone: whose clock?
    "2026-11-22 19:30:00Z",  # provisioner accepted this on main, backup-registry did not
    "20261122T193000Z",  # basic format: the same
    "2026-11-22T19:30:00+0200",  # the same
    "2026-11-22",  # the same (a date is midnight of which zone?)
    "1969-12-31T23:59:59Z",  # backup-registry accepted this on main, provisioner did not
    "9999-01-01T00:00:00Z",  # the same
    "2026-02-30T00:00:00Z",
    "2026-11-22T19:30:00+24:00",
    "2026-11-22T19:30:00Z\n",
    "\u0662\u0660\u0662\u0666-11-22T19:30:00Z",  # Arabic-Indic digits
    "",
    "2026-11-22T19:30:00Z" + "0" * 5000,
]


@pytest.mark.parametrize("text", sorted(ACCEPTED))
def test_accepted(text: str) -> None:
    assert clock.parse_instant(text) == ACCEPTED[text]
    assert instant_arg(text, "--now") == ACCEPTED[text]
    assert parse_now(text) == ACCEPTED[text] and parse_now(text).tzinfo is UTC


@pytest.mark.parametrize("text", REFUSED)
def test_refused_with_what_is_allowed(text: str) -> None:
    with pytest.raises(clock.InvalidInstant) as caught:
        clock.parse_instant(text)
    message = str(caught.value)
    assert len(message) < 200 and "\n" not in message
    with pytest.raises(UsageError, match=r"^--now "):
        instant_arg(text, "--now")
    with pytest.raises(InvalidInput):
        parse_now(text)


def _backup_prune(capsys: pytest.CaptureFixture[str], store: Path, now: str) -> CliRun:
    capsys.readouterr()
    code = backup_main(["prune", "--registry", "alpha", "--store", str(store), "--now", now])
    out, err = capsys.readouterr()
    return CliRun(code, out, err)


@pytest.mark.parametrize("text", [*sorted(ACCEPTED), *REFUSED[:-1]])
def test_both_clis_accept_the_same_now(
    text: str, run_cli: Callable[..., CliRun], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    provisioner = run_cli("next-runs", "0 3 * * *", "--after", text)
    backup = _backup_prune(capsys, tmp_path / "store", text)
    provisioner_ok = provisioner.code == 0
    backup_ok = "--now" not in backup.err
    assert provisioner_ok == backup_ok == (text in ACCEPTED), (provisioner, backup)
    if not provisioner_ok:
        assert (provisioner.code, backup.code) == (2, 1)  # usage error / invalid input, as documented


_instant_like = st.builds(
    lambda d, sep, t, z: f"{d}{sep}{t}{z}",
    st.dates().map(str) | st.text(max_size=12),
    st.sampled_from(["T", " ", "t", ""]),
    st.times().map(lambda t: t.isoformat()) | st.text(max_size=10),
    st.sampled_from(["Z", "z", "+02:00", "-0530", "+24:00", "", "+02", "UTC"]),
)


@given(_instant_like | st.text(max_size=50))
def test_one_answer_for_any_text(text: str) -> None:
    try:
        expected = clock.parse_instant(text)
    except clock.InvalidInstant:
        with pytest.raises(UsageError):
            instant_arg(text, "--now")
        with pytest.raises(InvalidInput):
            parse_now(text)
    else:
        assert instant_arg(text, "--now") == expected == parse_now(text)
