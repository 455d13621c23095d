"""`rollback`: swap the warm previous version back into production, outside a deployment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from turnout.api.context import ConfigSource, acting_user, load, open_store
from turnout.runbook.rollback import rollback as swap_back
from turnout.versions import check_version


@dataclass(frozen=True)
class RollbackResult:
    """Production is back on `to` (from `from_version`), verified by its health checks."""

    environment: str
    from_version: str | None
    to: str
    checks: Sequence[Mapping[str, Any]]
    summary: str
    followed: Sequence[str] = ()
    """What a deployment cut off had left running (a swap), followed to its end first."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout rollback --json` prints)."""
        return {
            "environment": self.environment,
            "from": self.from_version,
            "to": self.to,
            "checks": [dict(c) for c in self.checks],
            "summary": self.summary,
            "followed": list(self.followed),
        }


def rollback(
    env: str,
    *,
    to: str | None = None,
    reason: str = "manual",
    actor: str | None = None,
    config: ConfigSource = None,
) -> RollbackResult:
    """Swap back to the version warm in the staging slot (`to` must name it, if given)."""
    if to is not None:
        check_version(to, what="--to")
    loaded = load(config)
    environment = loaded.env(env)
    with open_store(loaded) as store:
        done = swap_back(loaded, environment, store, acting_user(actor), to=to, reason=reason)
    return RollbackResult(
        environment=str(done["environment"]),
        from_version=done["from"],
        to=str(done["to"]),
        checks=tuple(done["checks"]),
        summary=str(done["summary"]),
        followed=tuple(str(line) for line in done.get("followed", ())),
    )
