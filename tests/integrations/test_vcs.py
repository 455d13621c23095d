"""Release tags and the deployment log in real git repositories."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from turnout.config.integrations import VcsConfig
from turnout.config.secrets import SecretRef
from turnout.errors import IntegrationError
from turnout.integrations.vcs import (
    append_log_line,
    ensure_tag,
    git,
    log_has_line,
    push_credentials,
)

IDENTITY = ("Alice Deployer", "alice@example.com")


def _run(*args: str, cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit and no configured identity."""
    path = tmp_path / "app"
    path.mkdir()
    _run("git", "init", "-q", "-b", "main", cwd=path)
    (path / "README").write_text("app\n")
    _run("git", "add", "README", cwd=path)
    _run(
        "git",
        "-c",
        "user.name=Dev",
        "-c",
        "user.email=dev@example.com",
        "commit",
        "-q",
        "-m",
        "first",
        cwd=path,
    )
    return path


def test_annotated_tag_is_created_once(repo: Path) -> None:
    """The tag is annotated, on HEAD, by the deployer; a second call leaves it alone."""
    first = ensure_tag(repo, "v1.2.3", "Production release 2026-11-17", tagger=IDENTITY)
    again = ensure_tag(repo, "v1.2.3", "Production release 2026-11-18", tagger=IDENTITY)
    head = _run("git", "rev-parse", "HEAD", cwd=repo)
    assert first.created and not again.created
    assert first.commit == again.commit == head
    assert _run("git", "cat-file", "-t", "v1.2.3", cwd=repo) == "tag"
    assert _run("git", "tag", "-l", "--format=%(contents:subject)", "v1.2.3", cwd=repo) == (
        "Production release 2026-11-17"
    )
    assert _run("git", "tag", "-l", "--format=%(taggeremail)", "v1.2.3", cwd=repo) == (
        "<alice@example.com>"
    )


def test_tag_is_pushed_to_the_remote_once(repo: Path, tmp_path: Path) -> None:
    """With a push remote the tag reaches it; pushing again finds it there and does nothing."""
    remote = tmp_path / "remote.git"
    _run("git", "init", "-q", "--bare", str(remote), cwd=tmp_path)
    _run("git", "remote", "add", "origin", str(remote), cwd=repo)
    first = ensure_tag(repo, "v2.0.0", "release", push_remote="origin", tagger=IDENTITY)
    again = ensure_tag(repo, "v2.0.0", "release", push_remote="origin", tagger=IDENTITY)
    assert first.pushed_now and not again.pushed_now
    assert _run("git", "tag", "-l", cwd=remote) == "v2.0.0"


def test_push_failure_names_the_problem_without_credentials(repo: Path) -> None:
    """A refused push is an IntegrationError and credentials in the remote URL are hidden."""
    _run("git", "remote", "add", "origin", "https://bot:s3cr3tTOKEN@127.0.0.1:9/x.git", cwd=repo)
    with pytest.raises(IntegrationError) as caught:
        ensure_tag(repo, "v3.0.0", "release", push_remote="origin", tagger=IDENTITY)
    assert "s3cr3tTOKEN" not in caught.value.message


def test_not_a_repository_is_reported(tmp_path: Path) -> None:
    """Tagging outside a git repository says so."""
    with pytest.raises(IntegrationError, match="not a git repository"):
        ensure_tag(tmp_path, "v1.0.0", "release")


def test_log_line_is_appended_once(repo: Path) -> None:
    """The runbook's line is appended once, after any unterminated last line."""
    log = repo / "deployments.log"
    log.write_text("2026-11-01 10:00:00 - v1.2.2 deployed to production")
    line = "2026-11-17 18:00:00 - v1.2.3 deployed to production"
    assert append_log_line(log, line)
    assert not append_log_line(log, line)
    assert log.read_text().splitlines() == [
        "2026-11-01 10:00:00 - v1.2.2 deployed to production",
        line,
    ]
    assert log_has_line(log, line)
    assert git(repo, "status", "--porcelain").stdout.strip() == "?? deployments.log"


class _SmartHttp(BaseHTTPRequestHandler):
    """git's smart HTTP protocol through `git http-backend`, behind HTTP basic auth."""

    protocol_version = "HTTP/1.0"
    root: Path
    expected: str
    seen_authorization: list[str]

    def log_message(self, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        given = self.headers.get("Authorization", "")
        self.seen_authorization.append(given)
        if given != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "deployer",  # receive-pack is allowed for authenticated users
            "REMOTE_ADDR": "127.0.0.1",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, content = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


def test_tag_is_pushed_with_credentials_from_a_secret_reference(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HTTPS remote without credentials in its URL gets the token from env:NAME."""
    served = tmp_path / "served"
    served.mkdir()
    _run("git", "init", "-q", "--bare", "app.git", cwd=served)
    token = "push-token-3e1d"
    basic = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()

    class Handler(_SmartHttp):
        root = served
        expected = basic
        seen_authorization: list[str] = []  # one list per test run, read after the push

    handler = Handler
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/app.git"
        _run("git", "remote", "add", "origin", url, cwd=repo)
        monkeypatch.setenv("GIT_PUSH_TOKEN", token)
        settings = VcsConfig(push_remote="origin", push_password=SecretRef("env:GIT_PUSH_TOKEN"))
        credentials = push_credentials(settings)
        assert credentials is not None and token not in repr(credentials)
        with pytest.raises(IntegrationError):  # without them the server refuses
            ensure_tag(repo, "v2.0.0", "release", push_remote="origin", tagger=IDENTITY)
        result = ensure_tag(
            repo,
            "v2.0.0",
            "release",
            push_remote="origin",
            tagger=IDENTITY,
            credentials=credentials,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.pushed_now
    assert _run("git", "tag", "-l", cwd=served / "app.git") == "v2.0.0"
    assert handler.expected in handler.seen_authorization
    assert token not in (repo / ".git" / "config").read_text()
