"""`plan`: the steps a deployment would run and every gate's verdict now; changes nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.analysis.budget import EvidenceBudget, evidence_budget
from turnout.api.canary_plan import PlannedCanary
from turnout.api.context import ConfigSource, acting_user, load, open_store
from turnout.api.database_plan import PlannedDatabase
from turnout.api.packages import resolve_package
from turnout.errors import Refused
from turnout.model import DeploymentType, PlannedDeployment
from turnout.policy import DeploymentFlags, evaluate_gates
from turnout.policy.gates import GateResult
from turnout.runbook.engine import Engine
from turnout.runbook.plan import plan_steps
from turnout.runbook.steps import load_step
from turnout.versions import check_version

if TYPE_CHECKING:
    from turnout.runbook.steps.infra_arm import PlannedInfra


@dataclass(frozen=True)
class PlannedStep:
    """One step of the plan, its runbook phase, and whether it is a gate."""

    step: str
    phase: str
    gate: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"step": self.step, "phase": self.phase, "gate": self.gate}


@dataclass(frozen=True)
class PlanResult:
    """The plan of a deployment and every gate's verdict if it started now."""

    environment: str
    version: str
    kind: DeploymentType
    steps: tuple[PlannedStep, ...]
    gates: tuple[GateResult, ...]
    window_enforced: bool
    evidence_budget: EvidenceBudget | None
    database: PlannedDatabase | None = None
    """What the database phase would migrate (None: no database phase in the plan)."""
    canary: PlannedCanary | None = None
    """The canary phase's shares and whether it would be skipped (None: no canary)."""
    infra: PlannedInfra | None = None
    """ARM's what-if of the infrastructure phase (None: no ARM phase in the plan)."""

    @property
    def blocking(self) -> tuple[GateResult, ...]:
        """The gates that would refuse the deployment now."""
        return tuple(g for g in self.gates if g.blocking)

    @property
    def would_proceed(self) -> bool:
        """Whether a deployment started now would pass every gate."""
        return not self.blocking

    @property
    def refused_exit_code(self) -> int:
        """The exit code a deploy started now would end with at its gates (0: it passes)."""
        return 0 if self.would_proceed else Refused.exit_code

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout plan --json` prints)."""
        return {
            "environment": self.environment,
            "version": self.version,
            "type": self.kind.value,
            "steps": [s.to_dict() for s in self.steps],
            "gates": [g.to_dict() for g in self.gates],
            "would_proceed": self.would_proceed,
            "window_enforced": self.window_enforced,
            "evidence_budget": self.evidence_budget.to_dict() if self.evidence_budget else None,
            "database": self.database.to_dict() if self.database else None,
            "canary": self.canary.to_dict() if self.canary else None,
            "infra": self.infra.to_dict() if self.infra else None,
        }


def plan(
    env: str,
    version: str,
    *,
    package: Path | None = None,
    kind: DeploymentType = DeploymentType.APP,
    emergency: bool = False,
    reason: str | None = None,
    outside_window: bool = False,
    fixes_incidents: Iterable[str] = (),
    actor: str | None = None,
    config: ConfigSource = None,
) -> PlanResult:
    """What `deploy` with the same arguments would do, and whether its gates let it through."""
    check_version(version)
    loaded = load(config)
    environment = loaded.env(env)
    names = plan_steps(environment, kind)
    steps = tuple(PlannedStep(n, load_step(n).phase, load_step(n).gate) for n in names)
    deployer = acting_user(actor)
    release_package = resolve_package(loaded, environment, version, package)
    with open_store(loaded, read_only=True) as store:
        planned = PlannedDeployment(
            environment=environment.name,
            version=version,
            type=kind,
            deployer=deployer,
            created_at=store.now(),
            package=release_package,
            previous_version=Engine(loaded, environment, store).last_verified_version(),
            emergency=emergency,
            reason=reason,
        )
        flags = DeploymentFlags(
            deployer=deployer,
            emergency=emergency,
            reason=reason,
            outside_window=outside_window,
            outside_window_reason=reason if outside_window else None,
            fixes_incidents=tuple(str(i) for i in fixes_incidents),
        )
        gates = evaluate_gates(loaded, environment, store, planned, flags=flags)
        database = None
        if "migrate" in names:
            from turnout.api.database_plan import planned_database

            database = planned_database(loaded, environment, store, release_package)
        canary = None
        if "canary" in names:
            from turnout.api.canary_plan import planned_canary

            canary = planned_canary(loaded, environment, store, release_package, names)
        infra = None
        if "infra" in names:
            from turnout.runbook.steps.infra_arm import arm_settings, planned_infra

            settings = arm_settings(environment)
            if settings is not None:
                infra, gate = planned_infra(loaded, environment, store, planned, settings)
                gates.insert(0, gate)
        if "stage" in names:  # what the deployment's first step, preflight, would say
            from turnout.runbook.steps.preflight import preflight_gate

            gates.insert(0, preflight_gate(loaded, environment, store, planned))
    return PlanResult(
        environment=environment.name,
        version=version,
        kind=kind,
        steps=steps,
        gates=tuple(gates),
        window_enforced=environment.policy.enforce_window,
        evidence_budget=evidence_budget(loaded, environment),
        database=database,
        canary=canary,
        infra=infra,
    )
