"""Text made safe to show: what turnout writes to terminals, logs and messages.

Anything turnout prints may carry text it did not write: an app's log tail, an HTTP
answer, a version string, a git error. Control characters in such text could move the
cursor, recolour or clear a terminal, or forge a line of a log. Every renderer passes
text through `printable` first; the characters it replaces stay visible as escapes.
"""

from __future__ import annotations

import logging
import re
from typing import TextIO

# C0 controls except newline and tab, DEL, C1 controls, and the Unicode bidirectional
# overrides and isolates that can make a line read differently from what it holds.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control character (except newline and tab) shown as an escape:
    a carriage return becomes `\\x0d`, an ANSI escape `\\x1b[31m`."""
    return _UNSAFE.sub(_escape, text)


def first_line(text: str) -> str:
    """The first line of a (possibly multi-line) message, e.g. an error with a log tail."""
    return text.split("\n", 1)[0]


def log_handler(stream: TextIO) -> logging.Handler:
    """A log handler writing `time LEVEL message` lines with control characters escaped:
    a log line can quote an app's output, which must not forge or hide lines."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_PrintableFormatter("%(asctime)s %(levelname)s %(message)s"))
    return handler


class _PrintableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def duration(seconds: float | None) -> str:
    """A duration for people: seconds, minutes, hours or days ("n/a" for None)."""
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
