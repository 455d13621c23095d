"""The GitHub tracker and workflow dispatch through PyGithub against a local GitHub server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from github.Repository import Repository

from tests.fakes.github_server import GitHubServer
from tests.support import github_rest
from turnout.clock import FrozenClock
from turnout.config.secrets import SecretRef
from turnout.errors import IntegrationError
from turnout.integrations.gh import github_client, repository
from turnout.integrations.tracker import GitHubTracker, ensure_issue, issue_body
from turnout.integrations.workflows import dispatch, follow, get_workflow
from turnout.model import DeploymentInfo, DeploymentType

TOKEN = "ghp_TOKENVALUE0123456789"
REPO = "acme/shop"


@pytest.fixture
def clock() -> FrozenClock:
    """Time stands still unless a poll loop sleeps."""
    return FrozenClock(datetime(2026, 11, 17, 18, 0, tzinfo=UTC))


@pytest.fixture
def github(clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubServer]:
    """A GitHub server with one repository and the runbook's infrastructure workflow."""
    monkeypatch.setenv("GH_TOKEN_TEST", TOKEN)
    server = GitHubServer(TOKEN, now=clock.now)
    server.add_repo(REPO)
    server.add_workflow(REPO, "deploy-infrastructure.yml", "Deploy Infrastructure")
    with server:
        yield server


def _repo(server: GitHubServer, token: str = "env:GH_TOKEN_TEST") -> Repository:
    client = github_client(SecretRef(token), server.url, key="github.token", file="t.toml")
    return repository(client, REPO)


def _deployment(number: int = 7) -> DeploymentInfo:
    return DeploymentInfo(
        id=number,
        environment="production",
        version="1.4.0",
        type=DeploymentType.APP,
        deployer="alice",
        created_at=datetime(2026, 11, 17, 18, 0, tzinfo=UTC),
        previous_version="1.3.0",
    )


def test_issue_is_created_commented_and_closed(github: GitHubServer) -> None:
    """The tracking issue gets the labels and checklist, a comment per phase, then is closed."""
    tracker = GitHubTracker(_repo(github), ["deployment", "production"], app="shop")
    body = issue_body(_deployment(), ["announce", "track"], None)
    issue, opened = ensure_issue(tracker, _deployment(), "Production Deployment - 2026-11-17", body)
    assert opened and issue.ref == "1"
    assert issue.url.startswith(github.url)
    tracker.comment(issue, "Phase 3 done")
    tracker.close(issue, "Deployment completed successfully.", success=True)
    stored = github_rest.issues(github, REPO)[1]
    assert stored["title"] == "Production Deployment - 2026-11-17"
    assert [label["name"] for label in stored["labels"]] == ["deployment", "production"]
    assert "- [ ] All changes code reviewed and approved" in stored["body"]
    assert stored["state"] == "closed" and stored["state_reason"] == "completed"
    comments = [c["body"] for c in github_rest.comments(github, REPO, 1)]
    assert comments == ["Phase 3 done", "Deployment completed successfully."]
    assert tracker.is_closed(issue)
    tracker.close(issue, "again", success=True)  # closing twice changes nothing
    assert len(github_rest.comments(github, REPO, 1)) == 2
    assert TOKEN not in github.bodies_text()


def test_opening_twice_finds_the_first_issue(github: GitHubServer) -> None:
    """After a crash, opening the deployment's issue again finds it instead of duplicating it."""
    tracker = GitHubTracker(_repo(github), ["deployment", "production"], app="shop")
    first, _ = ensure_issue(tracker, _deployment(), "T", "body")
    other, _ = ensure_issue(tracker, _deployment(8), "T", "body")
    again, opened = ensure_issue(tracker, _deployment(), "T", "body")
    assert not opened and again.ref == first.ref != other.ref
    assert len(github_rest.issues(github, REPO)) == 2


def test_failed_deployment_closes_as_not_planned(github: GitHubServer) -> None:
    """A deployment that did not succeed closes its issue with state_reason not_planned."""
    tracker = GitHubTracker(_repo(github), ["deployment"], app="shop")
    issue = tracker.open(_deployment(), "T", "body")
    tracker.close(issue, "rolled back", success=False)
    assert github_rest.issues(github, REPO)[1]["state_reason"] == "not_planned"


def test_bad_token_is_an_integration_error_without_the_token(
    github: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused token becomes one IntegrationError naming the status, never the token."""
    monkeypatch.setenv("GH_WRONG", "ghp_WRONGTOKEN")
    with pytest.raises(IntegrationError) as caught:
        _repo(github, "env:GH_WRONG")
    assert "HTTP 401" in caught.value.message and "Bad credentials" in caught.value.message
    assert "WRONGTOKEN" not in caught.value.message


def test_dispatch_returns_run_details_and_is_followed(
    github: GitHubServer, clock: FrozenClock
) -> None:
    """With return_run_details the dispatch names its run; following it ends on its conclusion."""
    repo = _repo(github)
    workflow = get_workflow(repo, "deploy-infrastructure.yml")
    run_id = dispatch(repo, workflow, "main", {"environment": "production"}, clock)
    seen: list[str] = []
    result = follow(repo, run_id, clock, timeout=600, poll_interval=10, progress=seen.append)
    assert result.succeeded and result.id == run_id
    assert seen == [f"workflow run {run_id}: {s}" for s in ("queued", "in_progress", "completed")]
    assert github.run_inputs(REPO) == [{"environment": "production"}]
    assert clock.monotonic() == pytest.approx(20.0)
    dispatches = [r for r in github.requests if r.path.endswith("/dispatches")]
    assert dispatches[0].json()["return_run_details"] is True


def test_enterprise_without_run_details_falls_back_to_listing_runs(
    github: GitHubServer, clock: FrozenClock
) -> None:
    """A server refusing return_run_details gets a plain dispatch; the run is found by listing."""
    github.return_run_details = False
    repo = _repo(github)
    workflow = get_workflow(repo, "deploy-infrastructure.yml")
    earlier = dispatch(repo, workflow, "main", {"environment": "staging"}, clock)
    run_id = dispatch(repo, workflow, "main", {"environment": "production"}, clock)
    assert run_id != earlier
    assert github.repos[REPO].runs[run_id]["inputs"] == {"environment": "production"}
    statuses = [r.json() for r in github.requests if r.path.endswith("/dispatches")]
    assert [("return_run_details" in s) for s in statuses] == [True, False, True, False]


def test_failed_run_and_timeout_are_reported(github: GitHubServer, clock: FrozenClock) -> None:
    """A run concluding failure is no success; one still running at the timeout comes back as is."""
    github.conclusion = "failure"
    repo = _repo(github)
    workflow = get_workflow(repo, "deploy-infrastructure.yml")
    run_id = dispatch(repo, workflow, "main", {}, clock)
    failed = follow(repo, run_id, clock, timeout=600, poll_interval=1)
    assert failed.status == "completed" and failed.conclusion == "failure" and not failed.succeeded
    github.run_polls = 1000
    slow_id = dispatch(repo, workflow, "main", {}, clock)
    slow = follow(repo, slow_id, clock, timeout=30, poll_interval=10)
    assert slow.status == "in_progress"


def test_unknown_workflow_is_an_integration_error(github: GitHubServer) -> None:
    """Dispatching a workflow the repository lacks says which one."""
    with pytest.raises(IntegrationError, match=r"nope\.yml: HTTP 404"):
        get_workflow(_repo(github), "nope.yml")
