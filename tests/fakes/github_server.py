"""A local GitHub REST server with state: repositories, issues, comments, workflows, runs.

Follows the documented contract closely enough for PyGithub: token authentication,
absolute `url` fields pointing back at this server (PyGithub follows them), issue
creation/listing/labels/comments/closing with `state_reason`, workflow dispatch (204,
or 200 with the run's id when `return_run_details` is sent and supported — GitHub
Enterprise mode refuses that field with 422), run listing filtered by `event` and
`created`, and runs that move queued → in_progress → completed as they are polled.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.webhook_server import FakeHttpServer, RecordedRequest, Response, json_response


def _real_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FakeRepo:
    """One repository's state."""

    owner: str
    name: str
    push: bool = True
    lock_new_issues: bool = False
    """Lock every new issue's conversation as it is created (as a repository's automation
    may): comments on it are then refused with GitHub's 403."""
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        """owner/name."""
        return f"{self.owner}/{self.name}"


class GitHubServer(FakeHttpServer):
    """GitHub's REST API v3 for the parts turnout uses."""

    def __init__(
        self,
        token: str,
        *,
        return_run_details: bool = True,
        run_polls: int = 2,
        conclusion: str = "success",
        now: Callable[[], datetime] = _real_now,
    ) -> None:
        super().__init__()
        self.token = token
        self.return_run_details = return_run_details
        """False: behave like a GitHub Enterprise server that refuses the field (422)."""
        self.run_polls = run_polls
        """GETs of a run before it completes (queued, then in_progress)."""
        self.conclusion = conclusion
        self.repos: dict[str, FakeRepo] = {}
        self._next_id = 1000
        self._now_source = now
        """GitHub's clock (a test passes its FrozenClock's `now`)."""

    def _now(self) -> str:
        return self._now_source().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- state set-up -----------------------------------------------------------------
    def add_repo(self, full_name: str, *, push: bool = True) -> FakeRepo:
        """Create a repository."""
        owner, name = full_name.split("/")
        repo = FakeRepo(owner, name, push=push)
        with self.lock:
            self.repos[full_name.lower()] = repo
        return repo

    def add_workflow(self, full_name: str, file: str, name: str = "") -> dict[str, Any]:
        """Add a workflow file to a repository."""
        repo = self.repos[full_name.lower()]
        wid = self._id()
        base = f"{self.url}/repos/{repo.full_name}/actions/workflows/{wid}"
        workflow = {
            "id": wid,
            "node_id": f"W_{wid}",
            "name": name or file,
            "path": f".github/workflows/{file}",
            "state": "active",
            "created_at": self._now(),
            "updated_at": self._now(),
            "url": base,
            "html_url": f"{self.url}/{repo.full_name}/actions/workflows/{file}",
            "badge_url": f"{self.url}/{repo.full_name}/workflows/{file}/badge.svg",
        }
        with self.lock:
            repo.workflows[file] = workflow
        return workflow

    def _id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    # -- dispatch ---------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Response:
        auth = request.headers.get("authorization", "")
        if auth not in {f"token {self.token}", f"Bearer {self.token}"}:
            return json_response(401, {"message": "Bad credentials", "status": "401"})
        path = request.path.rstrip("/")
        if path == "/user" and request.method == "GET":
            return json_response(200, self._user())
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        if match is None:
            return self._not_found()
        repo = self.repos.get(f"{match.group(1)}/{match.group(2)}".lower())
        if repo is None:
            return self._not_found()
        rest = match.group(3) or ""
        with self.lock:
            return self._repo_route(repo, request, rest)

    def _repo_route(self, repo: FakeRepo, request: RecordedRequest, rest: str) -> Response:
        method = request.method
        if rest == "" and method == "GET":
            return json_response(200, self._repo_json(repo))
        if rest == "/issues":
            if method == "POST":
                return self._create_issue(repo, request.json())
            if method == "GET":
                return self._list_issues(repo, request.query)
        issue = re.fullmatch(r"/issues/(\d+)(/comments)?", rest)
        if issue is not None:
            number = int(issue.group(1))
            if number not in repo.issues:
                return self._not_found()
            if issue.group(2) and method == "POST":
                return self._comment(repo, number, request.json())
            if issue.group(2) and method == "GET":
                return json_response(200, repo.comments.get(number, []))
            if method == "GET":
                return json_response(200, repo.issues[number])
            if method == "PATCH":
                return self._edit_issue(repo, number, request.json())
        workflow = re.fullmatch(r"/actions/workflows/([^/]+)(/dispatches|/runs)?", rest)
        if workflow is not None:
            found = self._workflow(repo, workflow.group(1))
            if found is None:
                return self._not_found()
            if workflow.group(2) == "/dispatches" and method == "POST":
                return self._dispatch(repo, found, request.json())
            if workflow.group(2) == "/runs" and method == "GET":
                return self._list_runs(repo, found, request.query)
            if workflow.group(2) is None and method == "GET":
                return json_response(200, found)
        run = re.fullmatch(r"/actions/runs/(\d+)", rest)
        if run is not None and method == "GET":
            return self._poll_run(repo, int(run.group(1)))
        return self._not_found()

    @staticmethod
    def _not_found() -> Response:
        return json_response(404, {"message": "Not Found", "status": "404"})

    def _user(self) -> dict[str, Any]:
        return {"login": "turnout-bot", "id": 1, "url": f"{self.url}/users/turnout-bot"}

    def _repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        return {
            "id": 1,
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": {"login": repo.owner, "url": f"{self.url}/users/{repo.owner}"},
            "private": True,
            "url": f"{self.url}/repos/{repo.full_name}",
            "html_url": f"{self.url}/{repo.full_name}",
            "default_branch": "main",
            "permissions": {"admin": False, "push": repo.push, "pull": True},
        }

    # -- issues -----------------------------------------------------------------------
    def _create_issue(self, repo: FakeRepo, body: dict[str, Any]) -> Response:
        if not repo.push:
            return json_response(403, {"message": "Resource not accessible by integration"})
        if not body.get("title"):
            return json_response(422, {"message": "Validation Failed"})
        number = len(repo.issues) + 1
        api = f"{self.url}/repos/{repo.full_name}/issues/{number}"
        issue = {
            "id": self._id(),
            "number": number,
            "title": body["title"],
            "body": body.get("body") or "",
            "state": "open",
            "state_reason": None,
            "locked": repo.lock_new_issues,
            "labels": [self._label(repo, name) for name in body.get("labels", [])],
            "user": {"login": "turnout-bot"},
            "comments": 0,
            "created_at": self._now(),
            "updated_at": self._now(),
            "closed_at": None,
            "url": api,
            "comments_url": f"{api}/comments",
            "html_url": f"{self.url}/{repo.full_name}/issues/{number}",
            "repository_url": f"{self.url}/repos/{repo.full_name}",
        }
        repo.issues[number] = issue
        return json_response(201, issue)

    def _label(self, repo: FakeRepo, name: str) -> dict[str, Any]:
        return {"name": name, "url": f"{self.url}/repos/{repo.full_name}/labels/{name}"}

    def _list_issues(self, repo: FakeRepo, query: dict[str, list[str]]) -> Response:
        state = (query.get("state") or ["open"])[0]
        labels = [x for x in (query.get("labels") or [""])[0].split(",") if x]
        found = []
        for issue in sorted(repo.issues.values(), key=lambda i: -int(i["number"])):
            names = {label["name"] for label in issue["labels"]}
            if state != "all" and issue["state"] != state:
                continue
            if any(label not in names for label in labels):
                continue
            found.append(issue)
        return json_response(200, found)

    def _comment(self, repo: FakeRepo, number: int, body: dict[str, Any]) -> Response:
        if repo.issues[number].get("locked"):
            return json_response(
                403, {"message": "Unable to create comment because issue is locked."}
            )
        comments = repo.comments.setdefault(number, [])
        cid = self._id()
        comment = {
            "id": cid,
            "body": body.get("body", ""),
            "user": {"login": "turnout-bot"},
            "created_at": self._now(),
            "updated_at": self._now(),
            "url": f"{self.url}/repos/{repo.full_name}/issues/comments/{cid}",
            "html_url": f"{self.url}/{repo.full_name}/issues/{number}#issuecomment-{cid}",
        }
        comments.append(comment)
        repo.issues[number]["comments"] = len(comments)
        return json_response(201, comment)

    def _edit_issue(self, repo: FakeRepo, number: int, body: dict[str, Any]) -> Response:
        issue = repo.issues[number]
        if body.get("state") not in (None, "open", "closed"):
            return json_response(422, {"message": "Validation Failed"})
        reason = body.get("state_reason")
        if reason not in (None, "completed", "not_planned", "reopened", "duplicate"):
            return json_response(422, {"message": "Validation Failed"})
        for key in ("title", "body", "state", "state_reason"):
            if key in body:
                issue[key] = body[key]
        if "labels" in body:
            issue["labels"] = [self._label(repo, name) for name in body["labels"]]
        issue["closed_at"] = self._now() if issue["state"] == "closed" else None
        issue["updated_at"] = self._now()
        return json_response(200, issue)

    # -- workflows --------------------------------------------------------------------
    @staticmethod
    def _workflow(repo: FakeRepo, ident: str) -> dict[str, Any] | None:
        for file, workflow in repo.workflows.items():
            if ident in (file, str(workflow["id"])):
                return workflow
        return None

    def _dispatch(self, repo: FakeRepo, workflow: dict[str, Any], body: dict[str, Any]) -> Response:
        if not body.get("ref"):
            return json_response(422, {"message": 'Invalid request. "ref" wasn\'t supplied.'})
        wants_details = body.get("return_run_details") is True
        if wants_details and not self.return_run_details:
            return json_response(
                422,
                {"message": 'Invalid request.\n\n"return_run_details" is not a permitted key.'},
            )
        rid = self._id()
        api = f"{self.url}/repos/{repo.full_name}/actions/runs/{rid}"
        html = f"{self.url}/{repo.full_name}/actions/runs/{rid}"
        repo.runs[rid] = {
            "id": rid,
            "name": workflow["name"],
            "workflow_id": workflow["id"],
            "event": "workflow_dispatch",
            "status": "queued",
            "conclusion": None,
            "head_branch": body["ref"],
            "inputs": dict(body.get("inputs") or {}),
            "created_at": self._now(),
            "updated_at": self._now(),
            "run_attempt": 1,
            "url": api,
            "html_url": html,
            "polls": 0,
        }
        if wants_details:
            return json_response(200, {"workflow_run_id": rid, "run_url": api, "html_url": html})
        return 204, {}, b""

    def _public_run(self, run: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in run.items() if k not in {"polls", "inputs"}}

    def _list_runs(
        self, repo: FakeRepo, workflow: dict[str, Any], query: dict[str, list[str]]
    ) -> Response:
        event = (query.get("event") or [""])[0]
        created = (query.get("created") or [""])[0]
        since = created[2:] if created.startswith(">=") else ""
        runs = [
            self._public_run(run)
            for run in sorted(repo.runs.values(), key=lambda r: -int(r["id"]))
            if run["workflow_id"] == workflow["id"]
            and (not event or run["event"] == event)
            and (not since or run["created_at"] >= since)
        ]
        return json_response(200, {"total_count": len(runs), "workflow_runs": runs})

    def _poll_run(self, repo: FakeRepo, rid: int) -> Response:
        run = repo.runs.get(rid)
        if run is None:
            return self._not_found()
        run["polls"] += 1
        if run["status"] != "completed":
            if run["polls"] > self.run_polls:
                run["status"], run["conclusion"] = "completed", self.conclusion
            elif run["polls"] > 1:
                run["status"] = "in_progress"
            run["updated_at"] = self._now()
        return json_response(200, self._public_run(run))

    def run_inputs(self, full_name: str) -> list[dict[str, Any]]:
        """Inputs of every run dispatched in a repository, oldest first."""
        repo = self.repos[full_name.lower()]
        with self.lock:
            return [dict(run["inputs"]) for _, run in sorted(repo.runs.items())]
