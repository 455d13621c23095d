"""Who is signed in to the page: per-person tokens, sessions, and the checks on every action.

Each person in the configuration may have a `dashboard_token` (a secret reference). Signing
in with it starts a session kept in this process only (a restart signs everybody out): a
random id in an HttpOnly, SameSite=Strict cookie, and a CSRF token the page's forms carry.
An action must come from this page (its Origin is the page's own), from a signed-in person,
with that session's CSRF token; the roles and rules are the API's, as on the command line.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from turnout.config import LoadedConfig
from turnout.errors import ConfigError

COOKIE = "turnout_session"
MIN_TOKEN_LENGTH = 16
"""Shorter tokens are refused at start: a token is all that stands for a person."""


@dataclass(frozen=True)
class Session:
    """A signed-in person and the CSRF token of their forms."""

    person: str
    csrf: str


def people_tokens(config: LoadedConfig) -> dict[str, str]:
    """Each person's resolved token, by name (people without one are left out). An unset or
    too short token is a configuration error naming the person's key (exit 2)."""
    tokens: dict[str, str] = {}
    for index, person in enumerate(config.root.people):
        if person.dashboard_token is None:
            continue
        key = f"people[{index}].dashboard_token"
        value = person.dashboard_token.resolve(file=str(config.path), key=key)
        if len(value) < MIN_TOKEN_LENGTH:
            raise ConfigError(
                str(config.path), key, f"the token must have at least {MIN_TOKEN_LENGTH} characters"
            )
        tokens[person.name] = value
    return tokens


class Sessions:
    """Sessions of this process, by their cookie's value."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = tokens
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        """Whether anybody can sign in at all."""
        return bool(self._tokens)

    def sign_in(self, token: str) -> tuple[str, Session] | None:
        """A new session for the person whose token this is (None: nobody's)."""
        person = next(
            (
                name
                for name, known in self._tokens.items()
                if hmac.compare_digest(known.encode(), token.encode())
            ),
            None,
        )
        if person is None:
            return None
        key = secrets.token_urlsafe(32)
        session = Session(person, secrets.token_urlsafe(32))
        with self._lock:
            self._sessions[key] = session
        return key, session

    def find(self, key: str | None) -> Session | None:
        """The session a cookie names."""
        if not key:
            return None
        with self._lock:
            return self._sessions.get(key)

    def sign_out(self, key: str | None) -> None:
        """End a session."""
        if key:
            with self._lock:
                self._sessions.pop(key, None)


def csrf_matches(session: Session, given: str | None) -> bool:
    """Whether a form carried the session's CSRF token."""
    return bool(given) and hmac.compare_digest(session.csrf.encode(), (given or "").encode())


def same_origin(origin: str | None, host: str | None, allowed: Iterable[str]) -> bool:
    """Whether a request's Origin is this page's own: the host the browser asked for (as a
    reverse proxy passes it on) or one of the origins given with `--origin`. A request
    without an Origin is refused: every browser sends one with a form's POST."""
    if not origin or origin == "null":
        return False
    if origin.rstrip("/") in {a.rstrip("/") for a in allowed}:
        return True
    return bool(host) and urlsplit(origin).netloc == host
