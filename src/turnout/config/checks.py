"""HTTP checks on a slot: warm-up, smoke tests, post-swap health, the E2E command."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from turnout.config.base import Section


class WarmupConfig(Section):
    """Runbook Phase 3.2: N requests to the slot's own URL until healthy."""

    path: str = "/health"
    requests: int = Field(default=10, ge=1)
    interval: float = Field(default=0.2, ge=0)
    timeout: float = Field(default=60.0, gt=0)
    """Give up if the slot is not healthy after this many seconds."""


class HttpCheck(Section):
    """One HTTP check: a path, the expected status and optional JSON fields."""

    path: str
    method: str = "GET"
    expect_status: int = 200
    expect_json: dict[str, Any] = Field(default_factory=dict)
    """Top-level JSON fields and the values they must have, e.g. {status = "healthy"}."""
    timeout: float = 5.0


def _default_smoke() -> list[HttpCheck]:
    return [HttpCheck(path="/health", expect_json={"status": "healthy"})]


class ChecksConfig(Section):
    """Checks run against a slot before the swap (smoke) and production after it (health)."""

    warmup: WarmupConfig = Field(default_factory=WarmupConfig)
    smoke: list[HttpCheck] = Field(default_factory=_default_smoke)
    health: list[HttpCheck] = Field(default_factory=_default_smoke)
    e2e_command: str | None = None
    """Shell command run after the swap with TURNOUT_URL set; non-zero exit fails verification."""
    e2e_timeout: float = 300.0
