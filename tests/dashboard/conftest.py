"""One Chromium for the dashboard's browser tests, and a dashboard over a deployment waiting
for approval on the fake target."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support.chromium_args import CHROMIUM
from tests.support.dashboard_process import (
    PEOPLE,
    TOKEN,
    Dashboard,
    chromium,
    dashboard,
)
from tests.support.fake_target import seed_fake_target
from tests.support.in_process import turnout_in_process
from tests.support.project import Project, fake_project


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, started once for these tests."""
    if not Path(CHROMIUM).exists():
        pytest.skip("make system-tools installs chromium")
    with chromium() as started:
        yield started


@pytest.fixture(scope="package")
def waiting(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Deployment 1 (web) and 2 (vault, signed approvals only) of 1.1.0 by `tester`, each
    waiting for an approval from senior-engineer."""
    project = fake_project(tmp_path_factory.mktemp("actions") / "shop", extra=PEOPLE)
    project.set_slots({"production": "1.0.0", "staging": None})
    seed_fake_target(project.root / "vault-target.json", {"production": "1.0.0"})
    for env in ("web", "vault"):
        # In this process: the deploy is set-up here, not what these tests are about.
        argv = ["deploy", "--env", env, "--version", "1.1.0", "--yes"]
        argv += ["--config", str(project.config)]
        done = turnout_in_process(argv, cwd=project.root, env={"TURNOUT_USER": "tester"})
        assert done.returncode == 3, done.stderr
    return project


@pytest.fixture(scope="package")
def board(waiting: Project) -> Iterator[Dashboard]:
    """The dashboard over it, actions on, lead able to sign in, a keep-alive every second
    (below the reverse proxy's read timeout in test_proxy)."""
    with dashboard(
        waiting.config, "--actions", "--keepalive", "1", env={"LEAD_TOKEN": TOKEN}
    ) as running:
        yield running
