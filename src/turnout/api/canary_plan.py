"""What a release's canary phase would do, for `turnout plan`: its shares, what each step
needs, the stickiness, that migrations run first, and why it would be skipped. Only reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.errors import TurnoutError

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.config.canary import CanaryConfig
    from turnout.store import Store


@dataclass(frozen=True)
class PlannedCanary:
    """The canary phase of a plan."""

    config: CanaryConfig
    migrations_first: bool
    """Whether the release's migrations run before the canary (expand first)."""
    skipped: str | None = None
    """Why the canary would be skipped (None: it runs)."""
    warning: bool = False
    """Whether the skip is something to warn about (a release marked not backward compatible)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`plan --json`'s `canary`)."""
        return {
            "steps": [s.model_dump() for s in self.config.plan()],
            "stickiness": self.config.stickiness,
            "sticky_name": self.config.sticky_name,
            "migrations_first": self.migrations_first,
            "skipped": self.skipped,
        }

    def lines(self) -> list[str]:
        """For people."""
        config = self.config
        shares = " → ".join(f"{s:g} %" for s in config.steps)
        out = [
            f"{shares} of new clients on the new version, judged side by side with production;"
            f" sticky by {config.stickiness} {config.sticky_name!r}; a regression sets the"
            " share to zero and the swap never runs"
        ]
        out.extend(
            f"  {s.share:g} %: at least {s.seconds:g} s and {s.requests} requests (gives up"
            f" waiting for them after {s.max_seconds:g} s)"
            for s in config.plan()
        )
        if self.migrations_first:
            out.append(
                "migrations run before the canary (expand first): the old version must work"
                " on the new schema while both serve"
            )
        if self.skipped is not None:
            out.append(("WARNING: " if self.warning else "") + f"skipped: {self.skipped}")
        return out


def planned_canary(
    config: LoadedConfig, env: EnvironmentConfig, store: Store, package: Path, steps: list[str]
) -> PlannedCanary | None:
    """The canary phase the plan would run (None when the plan has none)."""
    canary = env.canary
    if canary is None or "canary" not in steps:
        return None
    first = "migrate" in steps and steps.index("migrate") < steps.index("canary")
    skipped, warning = _why_skipped(config, env, store, package, first)
    return PlannedCanary(canary, first, skipped, warning)


def _why_skipped(
    config: LoadedConfig, env: EnvironmentConfig, store: Store, package: Path, migrates: bool
) -> tuple[str | None, bool]:
    from turnout.targets.protocol import can_share_traffic
    from turnout.targets.registry import create_target

    try:
        target = create_target(config, env)
    except TurnoutError as exc:
        return f"the target could not be reached: {exc.message}", False
    try:
        if not can_share_traffic(target):
            return (
                f"the {env.target.kind} target cannot route a share of production's traffic",
                False,
            )
    finally:
        target.close()
    marked = _marked(config, env, store, package) if migrates else []
    if marked:
        return (
            f"the release's migrations {', '.join(marked)} are marked not backward compatible",
            True,
        )
    return None, False


def _marked(config: LoadedConfig, env: EnvironmentConfig, store: Store, package: Path) -> list[str]:
    """Pending SQL migrations marked not backward compatible (a tool's are not read)."""
    from turnout.database.compatibility import incompatible
    from turnout.database.service import DatabaseService
    from turnout.runbook.tool_migrations import migrator_for

    svc = DatabaseService(config, env, store)
    try:
        if migrator_for(config, env, svc, package) is not None:
            return []
        return incompatible(svc.pending(svc.load_migrations(package)))
    except TurnoutError:
        return []  # the database section of the plan says what could not be read
