"""Fleet test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    path = tmp_path / "platform"
    path.mkdir()
    return path
