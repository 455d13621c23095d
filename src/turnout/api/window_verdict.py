"""`window`: the deployment-window verdict for an instant, and the next good starts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from turnout.api.context import ConfigSource, load, open_store
from turnout.errors import BadInput
from turnout.policy.windows import WindowVerdict, evaluate_window, local_time

AT_YEARS = (1900, 9990)


@dataclass(frozen=True)
class WindowResult:
    """The verdict (with every rule that fired) and whether the environment enforces it."""

    environment: str
    enforced: bool
    verdict: WindowVerdict

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout window --json` prints)."""
        return {
            "environment": self.environment,
            "enforced": self.enforced,
            **self.verdict.to_dict(),
        }


def parse_at(text: str) -> datetime:
    """An ISO 8601 date-time (naive means the policy's local time), or BadInput (exit 2)."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(
            f"--at: cannot read {text!r} as a date and time"
            " (e.g. 2026-11-17T10:30 or 2026-11-17T18:30Z)"
        ) from None
    return _in_range(at)


def _in_range(at: datetime) -> datetime:
    if not AT_YEARS[0] <= at.year <= AT_YEARS[1]:
        # The next window is searched for up to a year ahead (and holidays a year around):
        # calendars end at year 9999, and before 1900 no timezone rules apply.
        raise BadInput(f"--at: year {at.year} is out of range ({AT_YEARS[0]}-{AT_YEARS[1]})")
    return at


def window(
    env: str, *, at: datetime | str | None = None, config: ConfigSource = None
) -> WindowResult:
    """The window verdict for `at` (default now; naive means the environment's local time)."""
    loaded = load(config, remembered=True)
    environment = loaded.env(env)
    when = parse_at(at) if isinstance(at, str) else _in_range(at) if at is not None else None
    with open_store(loaded, read_only=True) as store:
        instant = store.now() if when is None else local_time(environment.policy, when)
        verdict = evaluate_window(loaded, environment, store, instant)
    return WindowResult(environment.name, environment.policy.enforce_window, verdict)
