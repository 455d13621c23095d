"""The deployment tracking issue (runbook Phase 1.2): local record or a GitHub issue.

Both trackers open an issue titled like "Production Deployment - 2026-11-17" whose body
carries the pre-deployment checklist as text, take a comment per phase, and are closed
with the outcome. Each issue carries a marker naming the app, the environment and the
deployment (its number and the instant it started), so opening twice (after a crash)
finds the first issue instead of creating a second one, while a fresh state store
(numbers start again at 1) or a second app tracked in the same repository never takes
over an old issue.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

from turnout.errors import IntegrationError

if TYPE_CHECKING:
    from github.Issue import Issue
    from github.Repository import Repository

    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.model import DeploymentInfo
    from turnout.store import Store

RUNBOOK_CHECKLIST = [
    "All changes code reviewed and approved",
    "CI/CD pipeline passing all tests",
    "Security scan completed (no critical/high vulnerabilities)",
    "Staging environment tested successfully",
    "Database migration scripts tested (if applicable)",
    "Rollback plan documented",
    "Change notification sent to stakeholders",
    "Deployment window scheduled (business hours preferred)",
    "On-call engineer identified and available",
]
DONE_KINDS = {"pass", "attested", "not-applicable"}
SEARCH_LIMIT = 50
"""Recent labelled issues searched for an existing marker (bounded: one or two pages)."""


@dataclass(frozen=True)
class TrackingIssue:
    """Where a deployment is tracked."""

    kind: str
    """local or github."""
    ref: str
    """The deployment id (local) or the issue number (github)."""
    title: str
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (journal outputs)."""
        return {"kind": self.kind, "ref": self.ref, "title": self.title, "url": self.url}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrackingIssue:
        """Back from `to_dict`."""
        return cls(
            str(data["kind"]), str(data["ref"]), str(data["title"]), str(data.get("url", ""))
        )


class Tracker(Protocol):
    """A place where a deployment's tracking issue lives."""

    kind: str

    def find(self, deployment: DeploymentInfo) -> TrackingIssue | None:
        """The deployment's issue if it was already opened."""
        ...

    def open(self, deployment: DeploymentInfo, title: str, body: str) -> TrackingIssue:
        """Open the issue (callers use `ensure_issue` for idempotency)."""
        ...

    def comment(self, issue: TrackingIssue, text: str) -> None:
        """Add a comment."""
        ...

    def close(self, issue: TrackingIssue, text: str, *, success: bool) -> None:
        """Comment with the outcome and close (closing a closed issue is a no-op)."""
        ...

    def is_closed(self, issue: TrackingIssue) -> bool:
        """Whether the issue is closed."""
        ...


def marker(app: str, deployment: DeploymentInfo) -> str:
    """The hidden line naming the deployment in an issue's body, unique across state stores.

    The number alone repeats (a new state store counts from 1 again, another app has its
    own numbers); the app's name and the microsecond the deployment started do not.
    """
    started = deployment.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    return (
        f"<!-- turnout:deployment app={quote(app, safe='')} env={deployment.environment}"
        f" id={deployment.id} started={started} -->"
    )


def ensure_issue(
    tracker: Tracker, deployment: DeploymentInfo, title: str, body: str
) -> tuple[TrackingIssue, bool]:
    """The deployment's issue, opened unless it exists; True when it was opened now."""
    existing = tracker.find(deployment)
    if existing is not None:
        return existing, False
    return tracker.open(deployment, title, body), True


# -- local ------------------------------------------------------------------------------
class LocalTracker:
    """The tracking issue as part of the deployment record (deployments.data.tracking)."""

    kind = "local"

    def __init__(self, store: Store) -> None:
        self._store = store

    def _record(self, deployment_id: int) -> dict[str, Any] | None:
        row = self._store.deployment(deployment_id)
        if row is None:
            raise IntegrationError(f"local tracker: no deployment {deployment_id}")
        found = row.data.other.get("tracking")
        return dict(found) if isinstance(found, dict) else None

    def _save(self, deployment_id: int, record: dict[str, Any]) -> None:
        self._store.merge_deployment_data(deployment_id, tracking=record)

    def find(self, deployment: DeploymentInfo) -> TrackingIssue | None:
        record = self._record(deployment.id)
        if record is None:
            return None
        return TrackingIssue("local", str(deployment.id), str(record.get("title", "")))

    def open(self, deployment: DeploymentInfo, title: str, body: str) -> TrackingIssue:
        record = {
            "kind": "local",
            "title": title,
            "body": body,
            "state": "open",
            "opened_at": self._store.now().isoformat(),
            "comments": [],
        }
        self._save(deployment.id, record)
        return TrackingIssue("local", str(deployment.id), title)

    def comment(self, issue: TrackingIssue, text: str) -> None:
        record = self._record(int(issue.ref)) or {}
        comments = [
            *record.get("comments", []),
            {"at": self._store.now().isoformat(), "text": text},
        ]
        self._save(int(issue.ref), {**record, "comments": comments})

    def close(self, issue: TrackingIssue, text: str, *, success: bool) -> None:
        record = self._record(int(issue.ref)) or {}
        if record.get("state") == "closed":
            return
        self.comment(issue, text)
        record = self._record(int(issue.ref)) or {}
        record.update(
            state="closed",
            closed_at=self._store.now().isoformat(),
            outcome="completed" if success else "not_planned",
        )
        self._save(int(issue.ref), record)

    def is_closed(self, issue: TrackingIssue) -> bool:
        record = self._record(int(issue.ref)) or {}
        return record.get("state") == "closed"


# -- GitHub -----------------------------------------------------------------------------
class GitHubTracker:
    """A GitHub issue through PyGithub, with the configured labels."""

    kind = "github"

    def __init__(self, repo: Repository, labels: list[str], *, app: str) -> None:
        self._repo = repo
        self._labels = labels
        self._app = app

    def _issue(self, issue: TrackingIssue) -> Issue:
        from turnout.integrations.gh import github_errors

        with github_errors(f"issue #{issue.ref}"):
            return self._repo.get_issue(int(issue.ref))

    def find(self, deployment: DeploymentInfo) -> TrackingIssue | None:
        from turnout.integrations.gh import github_errors

        wanted = marker(self._app, deployment)
        with github_errors("list deployment issues"):
            recent = self._repo.get_issues(state="all", labels=self._labels)
            for issue in itertools.islice(recent, SEARCH_LIMIT):
                if wanted in (issue.body or ""):
                    return TrackingIssue("github", str(issue.number), issue.title, issue.html_url)
        return None

    def open(self, deployment: DeploymentInfo, title: str, body: str) -> TrackingIssue:
        from turnout.integrations.gh import github_errors

        with github_errors("create the tracking issue"):
            issue = self._repo.create_issue(
                title=title,
                body=f"{body}\n\n{marker(self._app, deployment)}\n",
                labels=self._labels,
            )
        return TrackingIssue("github", str(issue.number), issue.title, issue.html_url)

    def comment(self, issue: TrackingIssue, text: str) -> None:
        from turnout.integrations.gh import github_errors

        found = self._issue(issue)
        with github_errors(f"comment on issue #{issue.ref}"):
            found.create_comment(text)

    def close(self, issue: TrackingIssue, text: str, *, success: bool) -> None:
        from turnout.integrations.gh import github_errors

        found = self._issue(issue)
        if found.state == "closed":
            return
        with github_errors(f"close issue #{issue.ref}"):
            found.create_comment(text)
            found.edit(state="closed", state_reason="completed" if success else "not_planned")

    def is_closed(self, issue: TrackingIssue) -> bool:
        return self._issue(issue).state == "closed"


def tracker_for(config: LoadedConfig, env: EnvironmentConfig, store: Store) -> Tracker:
    """The environment's tracker, as configured in integrations.tracker."""
    settings = env.integrations.tracker
    if settings.kind == "local":
        return LocalTracker(store)
    from turnout.integrations.gh import github_client, repository

    github = env.integrations.github
    token = settings.token or github.token
    name = settings.repo or github.repository
    key = f"environments.{env.name}.integrations.tracker"
    assert token is not None and name is not None  # enforced when the configuration loads
    client = github_client(
        token,
        settings.base_url or github.base_url,
        key=f"{key}.token"
        if settings.token
        else f"environments.{env.name}.integrations.github.token",
        file=str(config.path),
    )
    return GitHubTracker(repository(client, name), issue_labels(env), app=config.root.app.name)


# -- text -------------------------------------------------------------------------------
def issue_title(env: EnvironmentConfig, deployment: DeploymentInfo, when: datetime) -> str:
    """The configured title, with the date in the environment's timezone."""
    local = when.astimezone(ZoneInfo(env.policy.timezone))
    return env.integrations.tracker.title.format(
        date=f"{local:%Y-%m-%d}",
        Environment=deployment.environment.title(),
        environment=deployment.environment,
        version=deployment.version,
    )


def issue_labels(env: EnvironmentConfig) -> list[str]:
    """The configured labels, {environment} filled in."""
    return [label.format(environment=env.name) for label in env.integrations.tracker.labels]


def checklist_lines(checklist_outputs: Mapping[str, Any] | None) -> list[str]:
    """The checklist as Markdown task items, from the checklist step's outputs if any.

    Reads `items`: a list of mappings with a title (`title`, `name` or `item`), a verdict
    (`result`, `kind` or `verdict`: pass, fail, attested...) and an optional `summary`.
    Without them, the runbook's nine items are listed unticked.
    """
    items = (checklist_outputs or {}).get("items")
    if not isinstance(items, list) or not items:
        return [f"- [ ] {title}" for title in RUNBOOK_CHECKLIST]
    lines = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        title = item.get("title") or item.get("name") or item.get("item") or "?"
        kind = str(item.get("result") or item.get("kind") or item.get("verdict") or "")
        summary = item.get("summary")
        tick = "x" if kind in DONE_KINDS else " "
        detail = f" — {kind}" + (f": {summary}" if summary else "") if kind else ""
        lines.append(f"- [{tick}] {title}{detail}")
    return lines


def issue_body(
    deployment: DeploymentInfo, plan: list[str], checklist_outputs: Mapping[str, Any] | None
) -> str:
    """Deployment checklist and tracking: what, who, the plan and the checklist."""
    version = deployment.version
    if deployment.previous_version:
        version = f"{deployment.previous_version} → {version}"
    lines = [
        "Deployment checklist and tracking",
        "",
        f"**Environment:** {deployment.environment}",
        f"**Version:** {version}",
        f"**Type:** {deployment.type.value}",
        f"**Deployer:** {deployment.deployer}",
        f"**Deployment:** #{deployment.id}",
    ]
    if deployment.emergency:
        lines.append(f"**EMERGENCY:** {deployment.reason or '(no reason given)'}")
    if deployment.changes:
        lines.append(f"**Changes:** {deployment.changes}")
    lines += ["", "### Pre-Deployment Checklist", *checklist_lines(checklist_outputs)]
    if plan:
        lines += ["", "### Plan", ", ".join(plan)]
    return "\n".join(lines)
