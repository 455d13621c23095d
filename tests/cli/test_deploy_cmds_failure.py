"""What a failed deployment prints: a crash's log tail once, no control characters, and no
rollback announcement when no traffic moved."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.local_fixtures import free_port

CRASHING_APP = """
import sys
print("tail-marker-7f3a: the app is starting")
print("ValueError: bad setting \\x1b[31mred\\x1b[0m\\x07", file=sys.stderr)
sys.exit(3)
"""

CONFIG = """
[app]
name = "crashy"
package = "dist/{{version}}"

[checks.warmup]
requests = 1
timeout = 5

[analysis]
provider = "none"
min_observation = 0

[integrations.vcs]
tag = false

[environments.staging.target]
kind = "local"
address = "127.0.0.1:{port}"
command = "{{python}} app.py"
start_timeout = 5

[environments.staging.policy]
enforce_window = false
"""


def _turnout(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turnout", *args, "--config", str(root / "turnout.toml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TURNOUT_USER": "tester"},
    )


def test_crash_before_traffic_moved_is_told_once_and_cleanly(tmp_path: Path) -> None:
    """A slot that crashes on start: its log tail appears once, escapes shown, no rollback."""
    (tmp_path / "turnout.toml").write_text(CONFIG.format(port=free_port()))
    package = tmp_path / "dist" / "1.0.0"
    package.mkdir(parents=True)
    (package / "app.py").write_text(CRASHING_APP)
    up = _turnout(tmp_path, "host", "up", "--env", "staging")
    assert up.returncode == 0, up.stderr
    try:
        done = _turnout(tmp_path, "deploy", "--env", "staging", "--version", "1.0.0", "--yes")
    finally:
        _turnout(tmp_path, "host", "down", "--env", "staging")
    output = done.stdout + done.stderr
    assert done.returncode == 4, output
    assert output.count("tail-marker-7f3a") == 1, output
    assert "\x1b" not in output and "\x07" not in output
    assert "\\x1b[31mred" in output
    assert "Failed Before Any Traffic Moved" in output
    assert "Rolled Back" not in output and "rolled back" not in output
    last = [line for line in done.stderr.splitlines() if line.startswith("✗ deployment")]
    assert last and "failed before any traffic moved, production untouched" in last[-1]
