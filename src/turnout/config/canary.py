"""The canary phase: a share of production's traffic on the new version before the swap."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from turnout.config.base import MAX_SECONDS, Section

COOKIE = "turnout-slot"
"""Default name of the cookie that keeps a client on the slot it was given."""
HEADER = "X-Client-Id"
"""Default name of the header whose value identifies a client (header stickiness)."""


class CanaryStep(Section):
    """One step of the canary: a share of traffic and what it needs before the next."""

    share: float = Field(gt=0, le=50)
    """Per cent of new clients routed to the new version."""
    seconds: float = Field(gt=0, le=MAX_SECONDS)
    """Seconds the step lasts at least."""
    requests: int = Field(ge=0)
    """Requests the new version must have served in this step before it ends."""
    max_seconds: float = Field(gt=0, le=MAX_SECONDS)
    """Seconds after which a step still short of its requests ends the canary (too little
    traffic is never a rollback: the share goes back to zero and the swap follows)."""


class CanaryConfig(Section):
    """`[environments.NAME.canary]`: steps of traffic share, what each needs, stickiness."""

    steps: list[float] = Field(min_length=1, max_length=20)
    """Per cent of traffic at each step, rising (e.g. [1, 5, 25]); each at most 50."""
    seconds: float | list[float] = 30.0
    """Seconds each step lasts at least (one value for all, or one per step)."""
    requests: int | list[int] = 200
    """Requests of the new version each step needs (one value for all, or one per step)."""
    max_seconds: float | list[float] = 300.0
    """Seconds a step may wait for its requests (one value, or one per step)."""
    stickiness: Literal["cookie", "header"] = "cookie"
    """How a client keeps the slot it was given: a cookie the router sets, or a header the
    client sends (its value is hashed: the same value always lands on the same slot)."""
    cookie: str = Field(default=COOKIE, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """Cookie name (stickiness = "cookie"); on azure the platform's x-ms-routing-name."""
    header: str = Field(default=HEADER, pattern=r"^[A-Za-z0-9-]{1,64}$")
    """Header name (stickiness = "header")."""

    @model_validator(mode="after")
    def _consistent(self) -> CanaryConfig:
        for share in self.steps:
            if not 0 < share <= 50:
                raise ValueError(f"step share {share:g} % must lie in (0, 50]")
        if any(b <= a for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("steps must rise (e.g. [1, 5, 25])")
        for name in ("seconds", "requests", "max_seconds"):
            value = getattr(self, name)
            if isinstance(value, list) and len(value) != len(self.steps):
                raise ValueError(
                    f"{name} has {len(value)} values for {len(self.steps)} steps"
                    " (give one value, or one per step)"
                )
        for step in self.plan():
            if step.max_seconds < step.seconds:
                raise ValueError(
                    f"max_seconds ({step.max_seconds:g}) is below seconds ({step.seconds:g})"
                    f" for the {step.share:g} % step"
                )
        return self

    def plan(self) -> list[CanaryStep]:
        """The steps with their needs."""
        count = len(self.steps)

        def each(value: float | list[float] | int | list[int]) -> list[float]:
            return [float(v) for v in value] if isinstance(value, list) else [float(value)] * count

        return [
            CanaryStep(share=share, seconds=seconds, requests=int(requests), max_seconds=longest)
            for share, seconds, requests, longest in zip(
                self.steps,
                each(self.seconds),
                each(self.requests),
                each(self.max_seconds),
                strict=True,
            )
        ]

    @property
    def sticky_name(self) -> str:
        """The cookie's or the header's name, whichever stickiness uses."""
        return self.cookie if self.stickiness == "cookie" else self.header
