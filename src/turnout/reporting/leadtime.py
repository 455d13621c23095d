"""Change lead time from git: for each deployment verified in production, from the commit
time of the oldest commit it brought that production did not have yet, to the moment it
was verified there.

"Production had it" means: reachable from the commit of an earlier deployment that was
verified and kept (not rolled back). A release whose commits were all in production
already (the same version deployed twice, or a return to an older one) brings no new
commit and gives no lead time. When git cannot be read (no repository at app.repository,
git not installed, no recorded commit and no release tag) the deployment is counted as
unmeasured and the report says why; no figure is made up for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from turnout.errors import TurnoutError
from turnout.integrations.vcs import git, is_repository, tag_commit
from turnout.reporting.facts import DeploymentFacts, Outcome


@dataclass(frozen=True)
class LeadTime:
    """One verified deployment's lead time, or why there is none."""

    deployment_id: int
    seconds: float | None
    oldest_commit: str | None
    problem: str | None
    """Why it could not be measured (None when measured or when no commit was new)."""

    @property
    def no_new_commits(self) -> bool:
        """Whether every commit of the release was in production already."""
        return self.seconds is None and self.problem is None


@dataclass(frozen=True)
class Repository:
    """Where the app's history is, and how a release's tag is named."""

    path: Path
    tag_format: str

    def tag(self, version: str, environment: str) -> str:
        """The release tag of a version."""
        return self.tag_format.format(version=version, environment=environment)


def lead_times(repo: Repository, facts: Sequence[DeploymentFacts]) -> dict[int, LeadTime]:
    """Lead time of every deployment verified in production, by deployment id."""
    verified = sorted(
        (f for f in facts if f.verified_at is not None and f.reached_production),
        key=lambda f: (f.verified_at, f.id),
    )
    if not verified:
        return {}
    try:
        reachable = is_repository(repo.path)
    except TurnoutError as exc:
        reachable, reason = False, exc.message
    else:
        reason = f"{repo.path} is not a git repository (app.repository)"
    if not reachable:
        return {f.id: LeadTime(f.id, None, None, f"git not reachable: {reason}") for f in verified}
    found: dict[int, LeadTime] = {}
    in_production: list[str] = []
    for fact in verified:
        commit = fact.commit or tag_commit(repo.path, repo.tag(fact.version, fact.environment))
        if commit is None:
            tag = repo.tag(fact.version, fact.environment)
            found[fact.id] = LeadTime(fact.id, None, None, f"no commit recorded and no tag {tag}")
            continue
        found[fact.id] = _measure(repo.path, fact, commit, in_production)
        if fact.outcome is Outcome.SUCCEEDED:
            in_production.append(commit)
    return found


def _measure(
    path: Path, fact: DeploymentFacts, commit: str, in_production: Sequence[str]
) -> LeadTime:
    assert fact.verified_at is not None
    # Committer time: when the change entered the repository's history.
    args = ["log", "--format=%H %ct", commit]
    if in_production:
        args += ["--not", *dict.fromkeys(in_production)]
    try:
        done = git(path, *args)
    except TurnoutError as exc:
        return LeadTime(fact.id, None, None, f"git not reachable: {exc.message}")
    commits = [line.split() for line in done.stdout.splitlines() if line.strip()]
    if not commits:
        return LeadTime(fact.id, None, None, None)
    sha, stamp = min(commits, key=lambda c: int(c[1]))
    committed = datetime.fromtimestamp(int(stamp), UTC)
    seconds = (fact.verified_at - committed).total_seconds()
    if seconds <= 0:
        # A commit dated after the deployment (a clock off, a rewritten history) says
        # nothing about lead time: left out, as Four Keys does.
        return LeadTime(fact.id, None, sha, "commit dated after the deployment")
    return LeadTime(fact.id, seconds, sha, None)
