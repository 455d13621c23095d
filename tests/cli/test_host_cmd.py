"""`turnout host status` in a pipe or CI log prints its slot table whole, not cut to 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.local_fixtures import free_port, make_package

CONFIG = """
[app]
name = "tinyapp"
package = "dist/{{version}}"

[checks.warmup]
requests = 1

[[checks.smoke]]
path = "/health"

[[checks.health]]
path = "/health"

[analysis]
provider = "none"
min_observation = 0

[integrations.vcs]
tag = false

[environments.staging.target]
kind = "local"
address = "127.0.0.1:{port}"
command = "{{python}} -m app"

[environments.staging.policy]
enforce_window = false
"""


def _turnout(root: Path, *args: str, columns: str = "40") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turnout", *args, "--config", str(root / "turnout.toml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TURNOUT_USER": "tester", "COLUMNS": columns},
    )


def test_host_status_without_a_terminal_keeps_every_column(tmp_path: Path) -> None:
    """Piped with COLUMNS=40, the slot row still shows every column in full."""
    (tmp_path / "turnout.toml").write_text(CONFIG.format(port=free_port()))
    tree = make_package(tmp_path / "build", "1.0.0", as_zip=False)
    (tmp_path / "dist").mkdir()
    tree.rename(tmp_path / "dist" / "1.0.0")
    up = _turnout(tmp_path, "host", "up", "--env", "staging")
    assert up.returncode == 0, up.stderr
    try:
        deployed = _turnout(tmp_path, "deploy", "--env", "staging", "--version", "1.0.0", "--yes")
        assert deployed.returncode == 0, deployed.stderr
        shown = _turnout(tmp_path, "host", "status", "--env", "staging").stderr
    finally:
        _turnout(tmp_path, "host", "down", "--env", "staging")
    header = next(
        line for line in shown.splitlines() if line.startswith("slot ") and "version" in line
    )
    for column in ("slot", "version", "state", "pid", "port", "health", "uptime", "req/60s"):
        assert column in header, shown
    assert "errors" in header and "p95 ms" in header, shown
    assert "…" not in shown, shown
    row = next(line for line in shown.splitlines() if "1.0.0" in line and "production" in line)
    assert "running" in row, shown
