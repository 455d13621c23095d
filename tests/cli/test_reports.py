"""`turnout history` prints one line per deployment, in a narrow terminal and in a pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.project import Project, fake_project
from turnout.model import DeploymentStatus, DeploymentType
from turnout.store import Store
from turnout.store.records import NewDeployment

MESSAGE = "stage failed: slot blue exited with code 3\n=== log tail\nTraceback: boom"


def _history(project: Project, env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "turnout", "history", "--config", str(project.config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stderr.splitlines() if line.strip()]


def _project_with_failures(root: Path, count: int) -> Project:
    project = fake_project(root)
    store = Store.open(project.root / ".turnout")
    try:
        for _ in range(count):
            now = store.now()
            store.create_deployment(
                NewDeployment(
                    environment="web",
                    version="1.0.0",
                    type=DeploymentType.APP,
                    deployer="Ana Maria de la Cruz Fernandez",
                    status=DeploymentStatus.ROLLED_BACK,
                    exit_code=4,
                    message=MESSAGE,
                    started_at=now,
                    finished_at=now,
                )
            )
    finally:
        store.close()
    return project


def test_history_without_a_terminal_is_one_line_each(tmp_path: Path) -> None:
    """Piped, each deployment is one line with its message's first line (no log tail)."""
    project = _project_with_failures(tmp_path / "p", 3)
    lines = _history(project, {})
    assert len(lines) == 3, lines
    assert all("stage failed: slot blue exited with code 3" in line for line in lines)
    assert not any("Traceback" in line for line in lines)


def test_history_in_a_narrow_terminal_does_not_wrap_rows(tmp_path: Path) -> None:
    """In a 50-column terminal the table keeps one line per deployment (cells shortened)."""
    project = _project_with_failures(tmp_path / "p", 3)
    terminal = {"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "COLUMNS": "50"}
    lines = _history(project, terminal)
    # title, top border, header, rule under it, the rows, bottom border
    assert len(lines) == 5 + 3, "\n".join(lines)
