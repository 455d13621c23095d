"""Dispatch a GitHub Actions workflow and follow its run to the end (runbook Phase 2).

GitHub.com answers a dispatch with the run's id when asked (`return_run_details`);
GitHub Enterprise may refuse that field or answer 204 without a body. Then the run is
found by listing the workflow's `workflow_dispatch` runs created since just before the
dispatch that were not there before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from github import GithubException

from turnout.errors import IntegrationError
from turnout.integrations.gh import github_error, github_errors

if TYPE_CHECKING:
    from github.Repository import Repository
    from github.Workflow import Workflow
    from github.WorkflowRun import WorkflowRun

    from turnout.clock import Clock

CLOCK_SKEW = timedelta(minutes=2)
"""Runs created this long before our dispatch still count (GitHub's clock vs ours)."""
FIND_ATTEMPTS = 30


@dataclass(frozen=True)
class RunResult:
    """A workflow run as last seen."""

    id: int
    url: str
    status: str
    conclusion: str | None

    @property
    def succeeded(self) -> bool:
        """Completed with conclusion success."""
        return self.status == "completed" and self.conclusion == "success"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "run_id": self.id,
            "url": self.url,
            "status": self.status,
            "conclusion": self.conclusion,
        }


def _result(run: WorkflowRun) -> RunResult:
    return RunResult(run.id, run.html_url or "", run.status or "", run.conclusion)


def get_workflow(repo: Repository, file: str) -> Workflow:
    """The workflow by file name (e.g. deploy-infrastructure.yml)."""
    with github_errors(f"workflow {file}"):
        return repo.get_workflow(file)


def dispatch(
    repo: Repository,
    workflow: Workflow,
    ref: str,
    inputs: dict[str, str],
    clock: Clock,
    *,
    poll_interval: float = 5.0,
) -> int:
    """Start a run and return its id (via return_run_details, else by listing runs)."""
    since = clock.now() - CLOCK_SKEW
    before = _dispatch_run_ids(workflow, since)
    try:
        answer: Any = workflow.create_dispatch(ref, inputs, throw=True, return_run_details=True)
    except GithubException as exc:
        if exc.status not in (400, 422):
            raise github_error(f"dispatch {workflow.path}", exc) from exc
        # The server does not know return_run_details (GitHub Enterprise): plain dispatch.
        with github_errors(f"dispatch {workflow.path}"):
            answer = workflow.create_dispatch(ref, inputs, throw=True)
    run_id = getattr(answer, "id", None)
    if isinstance(run_id, int):
        return run_id
    for _ in range(FIND_ATTEMPTS):
        new = [run for run in _dispatch_run_ids(workflow, since) if run not in before]
        if new:
            return max(new)
        clock.sleep(poll_interval)
    raise IntegrationError(
        f"GitHub: dispatched {workflow.path} on {ref} but no new run appeared"
        f" after {FIND_ATTEMPTS} looks"
    )


def _dispatch_run_ids(workflow: Workflow, since: datetime) -> set[int]:
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    with github_errors(f"list runs of {workflow.path}"):
        runs = workflow.get_runs(event="workflow_dispatch", created=f">={stamp}")
        return {run.id for run in runs}


def follow(
    repo: Repository,
    run_id: int,
    clock: Clock,
    *,
    timeout: float,
    poll_interval: float,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Poll the run until it completes or `timeout` seconds pass (by the clock)."""
    started = clock.monotonic()
    last_status = ""
    while True:
        with github_errors(f"workflow run {run_id}"):
            run = repo.get_workflow_run(run_id)
        result = _result(run)
        if result.status != last_status and progress is not None:
            progress(f"workflow run {run_id}: {result.status}")
        last_status = result.status
        if result.status == "completed":
            return result
        if clock.monotonic() - started >= timeout:
            return result
        clock.sleep(poll_interval)
