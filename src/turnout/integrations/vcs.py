"""Release tag and deployment log in the app's git repository (runbook Phase 6.2).

Real git through subprocess. Both operations are idempotent: an existing tag is left
as it is (and pushed only if the remote lacks it); a log line already in the file is
not appended again.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from turnout.errors import IntegrationError

if TYPE_CHECKING:
    from turnout.config.integrations import VcsConfig

GIT_TIMEOUT = 60.0
_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]+@")

# A credential helper that answers from the environment: git runs it through the shell,
# so the secret is in no process's arguments and in no file, only in git's environment.
_HELPER = (
    '!f() { test "$1" = get || exit 0; echo "username=$TURNOUT_GIT_USERNAME";'
    ' echo "password=$TURNOUT_GIT_PASSWORD"; }; f'
)


@dataclass(frozen=True)
class PushCredentials:
    """User name and secret for pushing over HTTPS; `repr` never shows the secret."""

    username: str
    password: str = field(repr=False)

    def environment(self) -> dict[str, str]:
        """Variables that make git use these credentials (instead of any configured helper)."""
        return {
            # Command-line-level config through the environment (git >= 2.31): an empty
            # helper first clears the helpers from the user's configuration.
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "credential.helper",
            "GIT_CONFIG_VALUE_0": "",
            "GIT_CONFIG_KEY_1": "credential.helper",
            "GIT_CONFIG_VALUE_1": _HELPER,
            "TURNOUT_GIT_USERNAME": self.username,
            "TURNOUT_GIT_PASSWORD": self.password,
        }


def push_credentials(settings: VcsConfig, file: str = "turnout.toml") -> PushCredentials | None:
    """The configured push credentials, the secret resolved now; None when not configured."""
    if settings.push_password is None:
        return None
    password = settings.push_password.resolve(file=file, key="integrations.vcs.push_password")
    return PushCredentials(settings.push_username, password)


def _with(credentials: PushCredentials | None) -> dict[str, str]:
    return credentials.environment() if credentials is not None else {}


def _redact(text: str) -> str:
    # Remote URLs may embed credentials (https://user:token@host/...).
    return _CREDENTIALS.sub(r"\1***@", text)


def git(
    repo: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run git in the repository; a failure is an IntegrationError with git's own words."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
            check=False,
        )
    except FileNotFoundError:
        raise IntegrationError("git is not installed (needed for the release tag)") from None
    except subprocess.TimeoutExpired:
        raise IntegrationError(f"git {args[0]} took longer than {GIT_TIMEOUT:g} s") from None
    if check and done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        reason = _redact(said[-1] if said else f"exit status {done.returncode}")
        raise IntegrationError(f"git {args[0]} in {repo}: {reason}")
    return done


def is_repository(repo: Path) -> bool:
    """Whether the folder is inside a git work tree."""
    if not repo.is_dir():
        return False
    done = git(repo, "rev-parse", "--is-inside-work-tree", check=False)
    return done.returncode == 0 and done.stdout.strip() == "true"


@dataclass(frozen=True)
class TagResult:
    """The release tag and what was done about it."""

    tag: str
    commit: str
    created: bool
    pushed_to: str | None
    pushed_now: bool


def tag_commit(repo: Path, tag: str) -> str | None:
    """The commit an existing tag points at, or None."""
    done = git(repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}", check=False)
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def remote_has_tag(
    repo: Path, remote: str, tag: str, credentials: PushCredentials | None = None
) -> bool:
    """Whether the remote already has the tag."""
    done = git(repo, "ls-remote", "--tags", remote, f"refs/tags/{tag}", env=_with(credentials))
    return bool(done.stdout.strip())


def ensure_tag(
    repo: Path,
    tag: str,
    message: str,
    *,
    ref: str = "HEAD",
    push_remote: str | None = None,
    tagger: tuple[str, str] | None = None,
    credentials: PushCredentials | None = None,
) -> TagResult:
    """An annotated tag at `ref` (created unless present), pushed when a remote is given."""
    if not is_repository(repo):
        raise IntegrationError(f"{repo} is not a git repository (app.repository)")
    existing = tag_commit(repo, tag)
    created = False
    if existing is None:
        identity = {}
        if tagger is not None:
            identity = {"GIT_COMMITTER_NAME": tagger[0], "GIT_COMMITTER_EMAIL": tagger[1]}
        git(repo, "tag", "-a", tag, "-m", message, ref, env=identity)
        created = True
        existing = tag_commit(repo, tag) or ""
    pushed_now = False
    if push_remote and not remote_has_tag(repo, push_remote, tag, credentials):
        git(repo, "push", push_remote, f"refs/tags/{tag}", env=_with(credentials))
        pushed_now = True
    return TagResult(tag, existing, created, push_remote, pushed_now)


def has_identity(repo: Path) -> bool:
    """Whether git knows who is committing here (needed for an annotated tag)."""
    name = git(repo, "config", "user.name", check=False).stdout.strip()
    email = git(repo, "config", "user.email", check=False).stdout.strip()
    return bool(name and email) or bool(
        os.environ.get("GIT_COMMITTER_NAME") and os.environ.get("GIT_COMMITTER_EMAIL")
    )


def log_has_line(path: Path, line: str) -> bool:
    """Whether the deployment log already holds this exact line."""
    try:
        with path.open(encoding="utf-8") as handle:
            return any(existing.rstrip("\n") == line for existing in handle)
    except FileNotFoundError:
        return False


def append_log_line(path: Path, line: str) -> bool:
    """Append the line unless it is there already; True when it was appended now."""
    if log_has_line(path, line):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = ""
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                prefix = "\n"  # never glue our line to an unterminated last line
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"{prefix}{line}\n")
        handle.flush()
        os.fsync(handle.fileno())
    return True
