"""HTTP checks on a slot: warm-up, smoke tests, post-swap health, the E2E command."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from turnout.config.base import MAX_SECONDS, Section
from turnout.config.templates import check_shell_command


class WarmupConfig(Section):
    """Runbook Phase 3.2: N requests to the slot's own URL until healthy."""

    path: str = "/health"
    requests: int = Field(default=10, ge=1, le=100_000)
    interval: float = Field(default=0.2, ge=0, le=MAX_SECONDS)
    timeout: float = Field(default=60.0, gt=0, le=MAX_SECONDS)
    """Give up if the slot is not healthy after this many seconds."""
    accept_status: list[Annotated[int, Field(ge=400, le=499)]] = Field(default_factory=list)
    """Client-error statuses (4xx) that count as answered, e.g. [401] for a path behind a
    login. Any other 4xx fails the warm-up at once (a wrong path does not heal); 5xx and
    connection errors are retried until `timeout`."""


class HttpCheck(Section):
    """One HTTP check: a path, the expected status and optional JSON fields."""

    path: str
    method: str = "GET"
    expect_status: int = Field(default=200, ge=100, le=599)
    expect_json: dict[str, Any] = Field(default_factory=dict)
    """JSON fields and the values they must have, e.g. {status = "healthy"}; a key may be a
    dotted path into nested objects and lists ("datasette.version", "items.0.name"), and
    `{version}` in a path or an expected text is the version the slot should run."""
    timeout: float = Field(default=5.0, gt=0, le=MAX_SECONDS)


def _default_smoke() -> list[HttpCheck]:
    return [HttpCheck(path="/health", expect_json={"status": "healthy"})]


class ChecksConfig(Section):
    """Checks run against a slot before the swap (smoke) and production after it (health)."""

    warmup: WarmupConfig = Field(default_factory=WarmupConfig)
    smoke: list[HttpCheck] = Field(default_factory=_default_smoke)
    health: list[HttpCheck] = Field(default_factory=_default_smoke)
    e2e_command: str | None = None
    """Shell command run after the swap with TURNOUT_URL set; non-zero exit fails verification."""
    e2e_timeout: float = Field(default=300.0, gt=0, le=MAX_SECONDS)
    e2e_pass_env: list[str] = Field(default_factory=list)
    """The deployer's variables the E2E command also gets; otherwise it sees only an
    allow-list (locale, PATH, HOME) and TURNOUT_URL."""

    @field_validator("e2e_command")
    @classmethod
    def _shell_command(cls, value: str | None) -> str | None:
        return None if value is None else check_shell_command(value)
