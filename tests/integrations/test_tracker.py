"""The GitHub tracking issue of real `turnout deploy` runs: one issue per deployment, and
a deployment whose comments or close did not reach it says so."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.github_server import GitHubServer
from tests.support import github_rest
from tests.support.project import Project, fake_project
from turnout.store import Store

TOKEN = "ghp_TRACKINGTOKEN77"
REPO = "acme/shop"
NO_CHECKS = {"TURNOUT__CHECKS__SMOKE": "[]", "TURNOUT__CHECKS__HEALTH": "[]"}


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    """A GitHub server with the repository every project here tracks its deployments in."""
    server = GitHubServer(TOKEN)
    server.add_repo(REPO)
    with server:
        yield server


def _project(root: Path, github: GitHubServer, app: str = "shop") -> Project:
    extra = f"""
[integrations.github]
token = "env:GH_TRACKING_TOKEN"
base_url = "{github.url}"
repository = "{REPO}"

[integrations.tracker]
kind = "github"
"""
    project = fake_project(root, extra=extra)
    config = project.config.read_text().replace('name = "shop"', f'name = "{app}"', 1)
    project.config.write_text(config)
    project.set_slots({"production": "1.0.0", "blue": None})
    return project


def _deploy(project: Project) -> tuple[int, str]:
    done = project.turnout(
        "deploy",
        "--env",
        project.env,
        "--version",
        "1.1.0",
        "--yes",
        env={**NO_CHECKS, "GH_TRACKING_TOKEN": TOKEN},
    )
    return done.returncode, done.stderr


def test_fresh_store_and_second_app_never_reuse_an_old_issue(
    tmp_path: Path, github: GitHubServer
) -> None:
    """Deployment 1 of a new state store, and of another app in the same repository, each
    open their own issue instead of finding (and closing again) an earlier one; the closing
    comment is each issue's last."""
    first = _project(tmp_path / "shop", github)
    assert _deploy(first)[0] == 0
    shutil.rmtree(first.root / ".turnout")  # a fresh state store numbers from 1 again
    first.set_slots({"production": "1.0.0", "blue": None})
    assert _deploy(first)[0] == 0
    other = _project(tmp_path / "billing", github, app="billing")
    assert _deploy(other)[0] == 0
    issues = github_rest.issues(github, REPO)
    assert sorted(issues) == [1, 2, 3]
    for number in issues:
        assert issues[number]["state"] == "closed", number
        assert issues[number]["state_reason"] == "completed", number
        bodies = [c["body"] for c in github_rest.comments(github, REPO, number)]
        assert bodies[-1].startswith("Deployment completed successfully."), number
    assert "app=shop env=web id=1 " in issues[1]["body"]
    assert "app=billing env=web id=1 " in issues[3]["body"]


def test_comments_and_close_that_were_not_posted_are_reported(
    tmp_path: Path, github: GitHubServer
) -> None:
    """A locked issue refuses every comment: the release still succeeds, and its outcome
    (on screen and in the record) says which phase comments and the close were not posted."""
    github.repos[REPO].lock_new_issues = True
    project = _project(tmp_path, github)
    code, stderr = _deploy(project)
    assert code == 0, stderr
    assert project.slots()["production"] == "1.1.0"
    assert "tracking issue #1: comment on phase pre-deployment not posted" in stderr
    assert "tracking issue #1: closing comment and close not posted" in stderr
    assert github_rest.issues(github, REPO)[1]["state"] == "open"
    store = Store.open(project.root / ".turnout")
    try:
        row = store.deployments(project.env)[0]
    finally:
        store.close()
    assert row.status == "succeeded"
    assert row.message is not None and "closing comment and close not posted" in row.message
    assert "issue is locked" in row.message
