"""A throwaway project with staging and production on the fake target, for policy tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.fake_target import seed_fake_target
from turnout.clock import FrozenClock
from turnout.config import LoadedConfig, load_config
from turnout.model import DeploymentStatus, DeploymentType, Release
from turnout.runbook.engine import Engine, Result
from turnout.store import Store
from turnout.store.records import NewDeployment

CONFIG = """
[app]
name = "shop"
package = "packages/{version}"

[[people]]
name = "dana"
roles = ["engineer"]
aliases = ["dana.ops"]

[[people]]
name = "sam"
roles = ["senior-engineer"]

[[people]]
name = "vic"
roles = ["vp-engineering"]

[checks.warmup]
requests = 1
interval = 0.0

[analysis]
provider = "none"
min_observation = 0

[integrations.vcs]
tag = false
log_file = "deployments.log"

[integrations.oncall]
roster = ["sam"]

[environments.staging]
target = { kind = "fake", state_file = "staging.json" }

[environments.staging.policy]
enforce_window = false

[environments.production]
target = { kind = "fake", state_file = "production.json" }
staging_environment = "staging"

[environments.production.policy.approvals]
# Roles, windows and freezes are tested here; signatures in tests/policy/test_signed_approvals.py.
signed = false

[environments.production.policy.checklist]
ci_passing = { command = "test -f ci-green" }
security_scan = { sarif = "reports/{version}.sarif" }
change_notification = { source = "attestation" }
"""

# Tuesday 2026-12-01 10:00 PST: a best window.
BEST_TIME = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def clean_sarif() -> dict[str, Any]:
    """A SARIF log with only a low-severity note."""
    return {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "scanner",
                        "rules": [
                            {"id": "LOW1", "properties": {"security-severity": "2.0"}},
                        ],
                    }
                },
                "results": [
                    {"ruleId": "LOW1", "ruleIndex": 0, "level": "note", "message": {"text": "x"}}
                ],
            }
        ],
    }


@dataclass
class PolicyProject:
    """Configuration, store, frozen clock and packages of one test project."""

    root: Path
    config: LoadedConfig
    store: Store
    clock: FrozenClock

    def engine(self, env: str) -> Engine:
        """An engine for an environment on the frozen clock."""
        return Engine(self.config, self.config.env(env), self.store, clock=self.clock)

    def deploy(self, env: str, version: str, deployer: str = "dana", **kw: Any) -> Result:
        """Run a deployment in process."""
        package = self.root / "packages" / version
        return self.engine(env).deploy(
            Release(version, package), DeploymentType.APP, deployer, **kw
        )

    def resume(self, env: str, actor: str = "dana") -> Result:
        """Resume the environment's unfinished deployment (there must be one)."""
        result = self.engine(env).resume(actor)
        assert result is not None, f"nothing to resume on {env}"
        return result

    def write_sarif(self, version: str, document: dict[str, Any]) -> Path:
        """Write the security report the production checklist reads."""
        path = self.root / "reports" / f"{version}.sarif"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document))
        return path

    def record_verified(self, env: str, version: str) -> int:
        """Record a verified (succeeded) deployment of a version, as turnout's history has it."""
        row = self.store.create_deployment(
            NewDeployment(
                environment=env,
                version=version,
                type=DeploymentType.APP,
                status=DeploymentStatus.SUCCEEDED,
                deployer="dana",
                started_at=self.clock.now(),
                finished_at=self.clock.now(),
            )
        )
        return row.id

    def passed_gates(self, deployment_id: int) -> bool:
        """Whether checklist, window and approval succeeded and the next step ran.

        What happens after the gates (announce, slots, verification) is other steps'
        business; these tests prove the gates let the deployment through.
        """
        statuses = {s.name: s.status for s in self.store.steps(deployment_id)}
        gates = all(statuses[g] == "succeeded" for g in ("checklist", "window", "approval"))
        return gates and statuses["announce"] != "pending"

    def actions(self, deployment_id: int | None = None) -> list[str]:
        """Audit actions, oldest first."""
        return [r.action for r in self.store.audit_log(deployment_id=deployment_id)]


def make_project(
    root: Path, extra: str = "", replace: dict[str, str] | None = None
) -> PolicyProject:
    """Write the project (CONFIG with replacements, then `extra`) and open its store on a
    frozen clock at BEST_TIME."""
    root.mkdir(parents=True, exist_ok=True)
    text = CONFIG
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    (root / "turnout.toml").write_text(text + extra)
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        folder = root / "packages" / version
        folder.mkdir(parents=True)
        (folder / "VERSION").write_text(version)
    for env in ("staging", "production"):
        seed_fake_target(root / f"{env}.json", {"production": "1.0.0", "blue": None})
    (root / "ci-green").write_text("ok")
    clock = FrozenClock(BEST_TIME)
    config = load_config(root / "turnout.toml")
    store = Store.open(config.state_dir, clock=clock)
    return PolicyProject(root, config, store, clock)
