"""docs/api.md's example runs as written against a project."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.project import fake_project

DOC = Path(__file__).parents[2] / "docs" / "api.md"


def test_the_first_example_runs_in_a_project(tmp_path: Path) -> None:
    """The page's first Python block runs in a project with a staging environment."""
    example = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert example is not None
    project = fake_project(tmp_path, env="staging")
    project.set_slots({"production": "1.0.0", "blue": None})
    done = subprocess.run(
        [sys.executable, "-c", example.group(1)],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TURNOUT_USER": "tester"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "production 1.0.0" in done.stdout
