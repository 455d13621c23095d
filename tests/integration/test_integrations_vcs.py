"""Release tags and the deployment log in real git repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from turnout.errors import IntegrationError
from turnout.integrations.vcs import append_log_line, ensure_tag, git, log_has_line

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
