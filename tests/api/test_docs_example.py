"""docs/api.md's examples run as written against a project."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.project import Project, fake_project

DOC = Path(__file__).parents[2] / "docs" / "api.md"


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def _run(example: str, project: Project) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", example],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TURNOUT_USER": "tester"},
        check=False,
    )


def test_the_first_example_runs_in_a_project(tmp_path: Path) -> None:
    """The page's first Python block runs in a project with a staging environment."""
    project = fake_project(tmp_path, env="staging")
    project.set_slots({"production": "1.0.0", "blue": None})
    done = _run(_examples()[0], project)
    assert done.returncode == 0, done.stderr
    assert "production 1.0.0" in done.stdout


def test_the_deploy_example_plans_then_deploys(tmp_path: Path) -> None:
    """The Deploying section's block plans 1.1.0, deploys it and prints its steps' times."""
    [example] = [e for e in _examples() if "api.deploy(" in e]
    project = fake_project(tmp_path, env="staging")
    project.set_slots({"production": "1.0.0", "blue": None})
    done = _run(example, project)
    assert done.returncode == 0, done.stderr
    first, *steps = done.stdout.splitlines()
    assert re.match(r"\d+ succeeded \S", first), done.stdout
    timed = {line.split()[0] for line in steps if re.fullmatch(r"  \S+ +\d+\.\d\d s", line)}
    assert {"preflight", "stage", "swap", "verify"} <= timed, done.stdout
    assert project.slots()["production"] == "1.1.0"


def test_the_deploy_example_names_what_blocks_and_deploys_nothing(tmp_path: Path) -> None:
    """When a gate blocks, the block prints it and leaves production as it was."""
    [example] = [e for e in _examples() if "api.deploy(" in e]
    project = fake_project(tmp_path, env="staging")
    project.set_slots({"production": "1.1.0", "blue": "1.0.0"})
    done = _run(example, project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("blocked by preflight "), done.stdout
    assert "1.1.0 is already live on staging" in done.stdout
    assert project.slots() == {"production": "1.1.0", "blue": "1.0.0"}
