"""Failure announcements: no rollback wording before traffic moved, a log tail shown once,
and no control characters from the values they quote."""

from __future__ import annotations

from turnout.integrations.messages import MessageKind, render

TAIL = "=== starting 1.0.0\ntail-line-one\nValueError: bad setting"
CONTEXT = {
    "environment": "staging",
    "version": "1.0.0",
    "failed_step": "stage",
    "error": f"slot blue: 1.0.0 exited with code 3 (log /x/1.0.0.log)\n{TAIL}",
    "evidence": {"exit_code": 3, "log_tail": TAIL, "slot": "blue"},
}


def test_failure_before_the_swap_is_not_a_rollback() -> None:
    """traffic_moved=False gives "failed before any traffic moved", production untouched."""
    text = render(MessageKind.ROLLBACK, {**CONTEXT, "traffic_moved": False}).text()
    assert "Failed Before Any Traffic Moved" in text
    assert "Rolled Back" not in text and "untouched" in text


def test_failure_after_the_swap_is_a_rollback() -> None:
    """traffic_moved=True (or unknown) keeps the rollback announcement."""
    for moved in (True, None):
        text = render(MessageKind.ROLLBACK, {**CONTEXT, "traffic_moved": moved}).text()
        assert "Deployment Rolled Back" in text


def test_log_tail_is_shown_once_in_full() -> None:
    """The error's first line is the headline; its log tail appears once, every line of it."""
    text = render(MessageKind.ROLLBACK, {**CONTEXT, "traffic_moved": False}).text()
    assert text.count("tail-line-one") == 1
    assert "What regressed: slot blue: 1.0.0 exited with code 3 (log /x/1.0.0.log)\n" in text
    assert "    ValueError: bad setting" in text


def test_multi_line_error_without_evidence_keeps_its_lines() -> None:
    """A multi-line error whose rest is in no evidence still shows it, once."""
    context = {**CONTEXT, "evidence": None, "traffic_moved": True}
    text = render(MessageKind.ROLLBACK, context).text()
    assert text.count("tail-line-one") == 1


def test_control_characters_are_escaped() -> None:
    """ANSI escapes, carriage returns and bidi overrides in values become visible escapes."""
    context = {**CONTEXT, "error": "bad \x1b[2Jclear\rover \u202eevil", "evidence": None}
    message = render(MessageKind.NEEDS_PERSON, context)
    for shown in (message.title, message.body, message.text()):
        assert "\x1b" not in shown and "\r" not in shown and "\u202e" not in shown
    assert "\\x1b[2Jclear\\x0dover \\u202eevil" in message.text()
