"""What a GitHub server holds, asked through its documented REST API (as any client would),
not read from the fake's own tables."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fakes.github_server import GitHubServer


def _get(github: GitHubServer, path: str, **params: str) -> Any:
    response = httpx.get(
        f"{github.url}{path}",
        params=params,
        headers={"Authorization": f"token {github.token}", "Accept": "application/vnd.github+json"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def issues(github: GitHubServer, repository: str) -> dict[int, dict[str, Any]]:
    """Every issue of `owner/name`, open or closed, by number (GET /repos/{r}/issues)."""
    listed = _get(github, f"/repos/{repository}/issues", state="all")
    return {int(issue["number"]): issue for issue in listed}


def comments(github: GitHubServer, repository: str, number: int) -> list[dict[str, Any]]:
    """The comments on an issue, oldest first (GET /repos/{r}/issues/{n}/comments)."""
    found: list[dict[str, Any]] = _get(github, f"/repos/{repository}/issues/{number}/comments")
    return found
