"""SECURITY.md is part of the specification: every test it cites as proof of a control exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_CITED = re.compile(r"`(tests/[A-Za-z0-9_/]+\.py)::(test_[A-Za-z0-9_]+)`")


def _cited() -> list[tuple[str, str]]:
    return _CITED.findall((ROOT / "SECURITY.md").read_text(encoding="utf-8"))


def test_every_cited_test_exists() -> None:
    cited = _cited()
    assert len(cited) >= 40
    missing = [
        f"{path}::{name}"
        for path, name in cited
        if not (ROOT / path).is_file()
        or not re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M)
    ]
    assert missing == []


def test_every_threat_row_cites_a_test_or_the_linter() -> None:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    section = text[text.index("### Threats, controls") : text.index("## Security features")]
    rows = [r for r in section.splitlines() if r.startswith("| ") and not r.startswith("| threat")]
    assert rows
    assert [r for r in rows if "::test_" not in r] == []


def test_the_readme_links_the_security_policy() -> None:
    assert "(SECURITY.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
