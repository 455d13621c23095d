"""turnout.text: what reaches a terminal or a log carries no control characters."""

from __future__ import annotations

import io
import logging

from turnout.text import first_line, log_handler, printable


def test_printable_escapes_controls_and_keeps_lines() -> None:
    """ESC, CR, BEL, DEL, C1 and bidi overrides become escapes; newline and tab stay."""
    shown = printable("a\x1b[2Jb\rc\x07d\x7fe\x9bf\u202eg\nh\ti")
    assert shown == "a\\x1b[2Jb\\x0dc\\x07d\\x7fe\\x9bf\\u202eg\nh\ti"


def test_first_line() -> None:
    """A multi-line message's first line; a one-line message unchanged."""
    assert first_line("failed: x\ntail 1\ntail 2") == "failed: x"
    assert first_line("one line") == "one line"


def test_log_lines_are_printable() -> None:
    """The slot host's log handler escapes control characters in every record."""
    out = io.StringIO()
    logger = logging.getLogger("turnout.test.text")
    logger.propagate = False
    logger.addHandler(log_handler(out))
    logger.warning("slot said %s", "fine\x1b[31m\rforged line")
    written = out.getvalue()
    assert "\x1b" not in written and "\r" not in written
    assert "fine\\x1b[31m\\x0dforged line" in written
