"""argparse value types shared by the commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """A strict whole number in [low, high]: ASCII digits only (no sign, blanks, "1_0" or other scripts)."""

    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit() and len(text) <= len(str(high))):
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {low} to {high}")
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse
