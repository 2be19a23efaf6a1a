"""Write the pipeline script of every golden job to DIR/<case>.groovy (and a drill job's to
DIR/<case>-drill.groovy), for npm-groovy-lint (./dev test).

The script is what Jenkins runs, so it is linted like the Jenkinsfile; it is taken from the golden
config.xml files (which test_golden.py keeps equal to what the renderer produces).
"""

from __future__ import annotations

import sys
from pathlib import Path

from provisioner.jenkins.configxml import parse_config

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def golden_scripts() -> dict[str, str]:
    scripts = {}
    for case in sorted(GOLDEN.iterdir()):
        for file, name in (("config.xml", case.name), ("drill.xml", f"{case.name}-drill")):
            config = case / file
            if config.is_file():
                script = parse_config(config.read_text(encoding="utf-8")).find("definition/script")
                assert script is not None and script.text, f"{config} has no pipeline script"
                scripts[name] = script.text
    return scripts


def main(argv: list[str]) -> int:
    (directory,) = argv
    for name, text in golden_scripts().items():
        (Path(directory) / f"{name}.groovy").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
