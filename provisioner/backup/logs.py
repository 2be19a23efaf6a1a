"""Logging for the backup script: JSON lines on stderr with UTC timestamps; progress on a TTY only."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

__all__ = ["LOG", "JsonLineFormatter", "Progress", "configure_logging"]

LOG = logging.getLogger("provisioner.backup")

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601 'Z'), level, msg, plus the record's `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, tz=UTC)
        line: dict[str, object] = {
            "ts": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            line["error"] = repr(record.exc_info[1])
        return json.dumps(line, ensure_ascii=True, default=str)


def configure_logging(stream: TextIO | None = None, verbose: bool = False) -> logging.Handler:
    """Attach the JSON-lines handler (the CLI calls this; nothing is attached at import)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    LOG.handlers[:] = [handler]
    LOG.setLevel(logging.DEBUG if verbose else logging.INFO)
    LOG.propagate = False
    return handler


class Progress:
    """A one-line byte counter redrawn at most 5 times a second, only when stderr is a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = self._stream.isatty()
        self._label = label
        self._done = 0
        self._last = 0.0
        self._start = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self._enabled

    def advance(self, nbytes: int) -> None:
        self._done += nbytes
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._last >= 0.2:
            self._last = now
            rate = self._done / max(now - self._start, 1e-6) / 1e6
            self._stream.write(f"\r{self._label}: {self._done / 1e6:,.0f} MB read, {rate:,.0f} MB/s ")
            self._stream.flush()

    def finish(self) -> None:
        if self._enabled:
            self._stream.write("\n")
            self._stream.flush()
