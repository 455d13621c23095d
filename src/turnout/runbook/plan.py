"""The plan: which steps a deployment runs, computed purely from configuration and type."""

from __future__ import annotations

from turnout.config import EnvironmentConfig
from turnout.model import DeploymentType

# preflight first: a release that cannot succeed is refused before any policy is judged
# and before anything is announced.
GATES = ["preflight", "checklist", "window", "approval"]
OPENING = ["announce", "track", "preconditions", "snapshot"]
CLOSING = ["announce-success", "tag", "log", "close"]
DATABASE = ["backup", "migrate", "verify-db"]


def app_steps(env: EnvironmentConfig) -> list[str]:
    """Stage through verify, with the database phase where the configuration puts it."""
    has_db = env.database.url is not None
    before = DATABASE if has_db and env.database.run == "before-swap" else []
    after = DATABASE if has_db and env.database.run == "after-swap" else []
    probe = env.analysis.probe
    # Verification traffic on the staging slot, after migrations (the release may need them).
    probing = (
        ["probe"]
        if probe.mode != "off" and probe.before_swap > 0 and env.analysis.provider != "none"
        else []
    )
    # A share of live traffic on the new version, after its migrations (expand first) and
    # its probes, before all of it moves.
    canary = ["canary"] if env.canary is not None else []
    return ["stage", "warmup", "smoke", *before, *probing, *canary, "swap", *after, "verify"]


def plan_steps(env: EnvironmentConfig, kind: DeploymentType) -> list[str]:
    """Step names for a deployment of this type to this environment (DESIGN.md section 2)."""
    if kind is DeploymentType.APP:
        middle = app_steps(env)
    elif kind is DeploymentType.INFRA:
        middle = ["infra"]
    else:
        middle = ["infra", *app_steps(env)]
    return [*GATES, *OPENING, *middle, *CLOSING]
