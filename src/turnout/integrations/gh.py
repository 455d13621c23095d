"""A PyGithub client built from the configuration, and GitHub errors made into turnout's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import requests
from github import Auth, Github, GithubException

from turnout.errors import IntegrationError, IntegrationUnavailable

if TYPE_CHECKING:
    from github.Repository import Repository

    from turnout.config.secrets import SecretRef

# PyGithub throttles writes (1 s) and retries 10 times by default; turnout bounds its own
# waits, so requests go out at once and a failure is reported instead of retried silently.
DEFAULT_TIMEOUT = 15


def github_client(
    token: SecretRef, base_url: str, *, key: str, file: str, timeout: int = DEFAULT_TIMEOUT
) -> Github:
    """A client for GitHub or GitHub Enterprise; the token is resolved only here."""
    return Github(
        auth=Auth.Token(token.resolve(file=file, key=key)),
        base_url=base_url.rstrip("/"),
        timeout=timeout,
        seconds_between_requests=0,
        seconds_between_writes=0,
        retry=None,
    )


def repository(client: Github, name: str) -> Repository:
    """The repository `owner/name`, or an IntegrationError saying why not."""
    with github_errors(f"repository {name}"):
        return client.get_repo(name)


@contextmanager
def github_errors(what: str) -> Iterator[None]:
    """Translate GitHub and network failures inside the block into IntegrationError."""
    try:
        yield
    except GithubException as exc:
        raise github_error(what, exc) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise IntegrationUnavailable(
            f"GitHub: {what}: {type(exc).__name__}: {exc}; nobody answered"
        ) from exc
    except requests.RequestException as exc:
        raise IntegrationError(f"GitHub: {what}: {type(exc).__name__}: {exc}") from exc


def github_error(what: str, exc: GithubException) -> IntegrationError:
    """A GitHub failure as an IntegrationError (status and GitHub's message, never headers)."""
    message = ""
    if isinstance(exc.data, dict):
        message = str(exc.data.get("message", ""))
    return IntegrationError(
        f"GitHub: {what}: HTTP {exc.status}{': ' + message if message else ''}",
        details={"status": exc.status, "message": message},
    )
