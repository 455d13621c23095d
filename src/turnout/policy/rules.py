"""The vocabulary of window decisions: verdict kinds and the rules that fire."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class WindowKind(StrEnum):
    """A window verdict, from most to least welcome."""

    BEST = "best"
    ACCEPTABLE = "acceptable"
    AVOID = "avoid"
    FROZEN = "frozen"

    @property
    def severity(self) -> int:
        """Higher is more restrictive; the verdict is the most restrictive rule that fired."""
        return _ORDER.index(self)


_ORDER = [WindowKind.BEST, WindowKind.ACCEPTABLE, WindowKind.AVOID, WindowKind.FROZEN]


@dataclass(frozen=True)
class FiredRule:
    """One rule that applies at an instant: what it is, its effect and why."""

    rule: str
    """Stable identifier, e.g. "freeze.quarter-end" or "avoid.holiday"."""
    effect: WindowKind
    reason: str
    ref: str | None = None
    """What the rule is about, when it has an identity (an incident: "local#3")."""

    @property
    def incident(self) -> bool:
        """Whether this is an active-incident freeze (emergencies do not silently override it)."""
        return self.rule == "freeze.incident"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = {"rule": self.rule, "effect": self.effect.value, "reason": self.reason}
        if self.ref is not None:
            out["ref"] = self.ref
        return out


class WindowOverride(StrEnum):
    """What let a deployment through a window verdict that would have stopped it."""

    OUTSIDE_WINDOW = "outside-window"
    """--outside-window with a reason (an approval is then required)."""
    EMERGENCY = "emergency"
    """An emergency deployment (approved by an emergency role)."""
    ADVISORY = "advisory"
    """`policy.enforce_window = false`: the calendar verdict is shown, not enforced."""
    INCIDENT = "incident"
    """An emergency that names every active incident it is meant to fix."""

    @staticmethod
    def parse(recorded: str | None) -> tuple[WindowOverride, ...]:
        """The overrides of a recorded `override` text such as "emergency+incident"."""
        return tuple(WindowOverride(part) for part in (recorded or "").split("+") if part)
