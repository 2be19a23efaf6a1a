from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from provisioner.settings.timezones import known_time_zones, time_zone_problem

JAVA_IDS = """
public class Ids {
    public static void main(String[] args) {
        for (String id : java.util.TimeZone.getAvailableIDs()) System.out.println(id);
    }
}
"""


def test_known_zones_load_and_include_kiev_and_kyiv() -> None:
    zones = known_time_zones()
    assert {"Europe/Kiev", "Europe/Kyiv", "UTC", "America/New_York", "EST5EDT"} <= zones
    assert not zones & {"localtime", "posixrules", "Factory", "GMT+0", "GMT-0", "ROC"}
    assert not any(z.startswith(("posix/", "right/")) for z in zones)
    for name in sorted(zones):
        ZoneInfo(name)


@pytest.mark.parametrize("name", ["Europe/Kiev\x00", "Europe/Kiev\n", " UTC", "UTC ", "\u0000", "E" * 300])
def test_control_characters_and_junk(name: str) -> None:
    assert time_zone_problem(name) is not None


def test_every_accepted_zone_is_a_java_time_zone(tmp_path: Path) -> None:
    java = shutil.which("java")
    if java is None:
        pytest.skip("no java on PATH (./dev setup installs default-jre-headless)")
    source = tmp_path / "Ids.java"
    source.write_text(JAVA_IDS)
    done = subprocess.run([java, str(source)], capture_output=True, text=True, timeout=120, check=True)
    java_ids = set(done.stdout.split())
    assert len(java_ids) > 500
    assert sorted(known_time_zones() - java_ids) == []
