"""`--help` reads cleanly: flags are shown as flags, without a type column."""

from __future__ import annotations

import pytest

from turnout.cli.main import main


@pytest.mark.parametrize("command", [[], ["deploy"], ["plan"], ["host", "up"], ["db", "restore"]])
def test_help_shows_no_bool_type(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Every command's --help lists its flags (e.g. --json) without `<bool>` beside them."""
    assert main([*command, "--help"]) == 0
    shown = capsys.readouterr().out
    assert "--help" in shown
    assert "<bool>" not in shown and "BOOLEAN" not in shown
