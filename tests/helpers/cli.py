"""Driving the provisioner CLI in-process, and the values.yaml text most tests start from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

USER, TOKEN = "deployer", "tok-3f9a1c77e2"
VALUES_PATH = "deploy-templates/values.yaml"


def values_yaml(
    *, enabled: bool = True, schedule: str = "30 19 * * *", days: int = 7, zone: str = "Europe/Kyiv"
) -> str:
    return (
        "global:\n"
        f"  timeZone: {zone}\n"
        "  registryBackup:\n"
        f"    enabled: {'true' if enabled else 'false'}\n"
        f'    schedule: "{schedule}"\n'
        f"    expiresInDays: {days}\n"
    )


@dataclass
class CliRun:
    code: int
    out: str
    err: str

    def __iter__(self) -> Iterator[object]:  # code, out, err = run_cli(...)
        return iter((self.code, self.out, self.err))

    def json(self) -> dict[str, object]:
        data = json.loads(self.out)
        assert isinstance(data, dict)
        return data
