"""Phase 2 on Azure Resource Manager: the environment's template deployed to its resource
group, what-if first, followed to the end, outputs and resources checked.

The deployment's name is fixed by the deployment (`turnout-ENV-ID-VERSION`), so a resumed
run finds the deployment an earlier run started and follows it instead of starting
another; ARM keeps one deployment per name and a unique name is what lets its roll back
(`onErrorDeployment: LastSuccessful`) find the last successful one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.config.arm import ArmInfraConfig
from turnout.errors import (
    BadInput,
    GateFailed,
    IntegrationError,
    NeedsPerson,
    Refused,
    StepError,
    TurnoutError,
    Unavailable,
)
from turnout.integrations.arm import (
    ArmClient,
    DeploymentState,
    FailedOperation,
    ResourceChange,
    WhatIf,
    describe_changes,
    open_client,
    resource_matches,
)
from turnout.runbook.outputs import InfraArmOutputs
from turnout.runbook.step import Step, StepContext
from turnout.store.deployment_data import (
    ArmDeploymentRecord,
    ArmOperationFailure,
    ArmRollbackRecord,
)

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.integrations.arm_template import ArmTemplate
    from turnout.model import PlannedDeployment
    from turnout.policy.gates import GateResult
    from turnout.runbook.step import ReleaseContext
    from turnout.store import Store

NAME_LIMIT = 64
"""ARM's longest deployment name."""
_NOT_IN_NAME = re.compile(r"[^-\w.()]")
_ORDER = {"Delete": 0, "Create": 1, "Modify": 2, "Deploy": 3}
"""How the plan lists changes: deletes first."""


def deployment_name(environment: str, deployment_id: int | None, version: str) -> str:
    """`turnout-ENV-ID-VERSION` in the characters ARM allows; a name too long for ARM keeps
    its start and ends in a hash of the whole, so it stays unique and the same every time."""
    number = "whatif" if deployment_id is None else str(deployment_id)
    name = _NOT_IN_NAME.sub("-", f"turnout-{environment}-{number}-{version}").rstrip(".")
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: NAME_LIMIT - len(digest) - 1].rstrip('.')}-{digest}"


def arm_settings(env: EnvironmentConfig) -> ArmInfraConfig | None:
    """The environment's ARM infrastructure phase, if that is what it has."""
    infra = env.integrations.infra
    return infra if isinstance(infra, ArmInfraConfig) else None


def _key(env: EnvironmentConfig) -> str:
    return f"environments.{env.name}.integrations.infra"


def _package(config: LoadedConfig, deployment: PlannedDeployment) -> Path | None:
    if deployment.package is not None:
        return deployment.package
    try:
        return config.release_package(deployment.version)
    except BadInput:
        return None


def load_template(ctx: ReleaseContext, settings: ArmInfraConfig) -> ArmTemplate:
    """The deployment's template and parameters (bad ones: ConfigError, exit 2)."""
    from turnout.integrations.arm_template import read_template

    return read_template(
        settings,
        config_file=ctx.config.path,
        key=_key(ctx.env),
        package=_package(ctx.config, ctx.deployment) if settings.from_release else None,
        environment=ctx.env.name,
        version=ctx.deployment.version,
    )


def client_for(ctx: ReleaseContext, settings: ArmInfraConfig) -> ArmClient:
    """An ARM client with the environment's Azure credential."""
    return open_client(settings, ctx.env, file=str(ctx.config.path), key=_key(ctx.env))


@dataclass(frozen=True)
class PlannedInfra:
    """What ARM's what-if says the deployment would do, and whether that may go ahead."""

    environment: str
    resource_group: str
    template: str
    mode: str
    allow_deletes: bool
    what_if: WhatIf | None = None
    error: str | None = None
    """Why ARM could not be asked (then the deployment would be refused too)."""
    problems: list[str] = field(default_factory=list)

    @property
    def refused(self) -> str | None:
        """Why a deployment would be refused (deletes not allowed, or no what-if), or None."""
        if self.error is not None:
            return f"no what-if from ARM: {self.error}"
        deletes = self.what_if.deletes if self.what_if else ()
        if deletes and not self.allow_deletes:
            names = ", ".join(line.split(maxsplit=1)[1] for line in describe_changes(deletes))
            return (
                f"ARM's what-if deletes {len(deletes)} resource(s) of {self.resource_group}"
                f" ({names}); set allow_deletes = true in"
                f" [environments.{self.environment}.integrations.infra] to let it"
            )
        return None

    def rows(self) -> list[tuple[ResourceChange, str]]:
        """Each resource's change with its TYPE/NAME, deletes first."""
        changes = sorted(
            self.what_if.changes if self.what_if else (),
            key=lambda c: _ORDER.get(c.change_type, len(_ORDER)),
        )
        return [
            (change, line.split(maxsplit=1)[1])
            for change, line in zip(changes, describe_changes(changes), strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`plan --json`'s `infra`)."""
        changes = self.what_if.changes if self.what_if else ()
        return {
            "kind": "arm",
            "resource_group": self.resource_group,
            "template": self.template,
            "mode": self.mode,
            "allow_deletes": self.allow_deletes,
            "changes": [
                {"change_type": c.change_type, "resource_id": c.resource_id,
                 "properties": list(c.properties)}
                for c in changes
            ],
            "counts": self.what_if.counts() if self.what_if else {},
            "refused": self.refused,
            "error": self.error,
        }  # fmt: skip


def what_if(ctx: ReleaseContext, settings: ArmInfraConfig) -> PlannedInfra:
    """ARM's what-if of this deployment (changes nothing). A template that cannot be read
    is bad input (raised); ARM not answering is kept as the result's error."""
    template = load_template(ctx, settings)
    deployment_id = getattr(ctx.deployment, "id", None)
    name = deployment_name(ctx.env.name, deployment_id, ctx.deployment.version)
    client = client_for(ctx, settings)
    base: dict[str, Any] = {
        "environment": ctx.env.name,
        "resource_group": settings.resource_group,
        "template": template.source,
        "mode": settings.mode,
        "allow_deletes": settings.allow_deletes,
    }
    try:
        return PlannedInfra(**base, what_if=client.what_if(name, template, settings.mode))
    except (BadInput, Refused):
        raise
    except IntegrationError as exc:
        return PlannedInfra(**base, error=exc.message)
    finally:
        client.close()


def infra_preflight(ctx: ReleaseContext) -> dict[str, Any] | None:
    """The deployment's what-if before anything is announced: a delete not allowed, or a
    what-if ARM cannot give, refuses it (exit 3) with nothing changed."""
    settings = arm_settings(ctx.env)
    if settings is None:
        return None
    planned = what_if(ctx, settings)
    if planned.error is not None:
        raise Unavailable(f"infrastructure: {planned.refused}; nothing was changed")
    if planned.refused is not None:
        raise GateFailed(f"infrastructure: {planned.refused}; nothing was changed")
    return planned.to_dict()


def planned_infra(
    config: LoadedConfig,
    env: EnvironmentConfig,
    store: Store,
    deployment: PlannedDeployment,
    settings: ArmInfraConfig,
) -> tuple[PlannedInfra, GateResult]:
    """ARM's what-if for `turnout plan`, and the gate line it makes (changes nothing)."""
    from turnout.clock import SystemClock
    from turnout.policy.gates import GateResult
    from turnout.runbook.step import PlannedRelease

    planned = what_if(PlannedRelease(config, env, store, deployment, SystemClock()), settings)
    refused = planned.refused
    counts = planned.what_if.counts() if planned.what_if else {}
    summary = refused or (", ".join(f"{n} {k}" for k, n in counts.items()) or "no changes")
    verdict = "pass" if refused is None else ("unknown" if planned.error else "deletes")
    gate = GateResult(
        "infra", "what-if", "Infrastructure what-if", verdict, refused is None, True, summary
    )
    return planned, gate


class ArmInfraStep(Step):
    """Deploy the template (Incremental, roll back to the last successful on error)."""

    name = "infra"
    phase = "infrastructure"

    def observe(self, ctx: StepContext) -> InfraArmOutputs | None:
        settings = self._settings(ctx)
        client = client_for(ctx, settings)
        try:
            state = client.get(self._name(ctx))
        finally:
            client.close()
        if state is None or state.provisioning_state != "Succeeded":
            return None
        record = _record(state, settings, [])
        ctx.store.update_deployment_data(ctx.deployment.id, arm_deployment=record)
        return self._validated(settings, record, observed=True)

    def run(self, ctx: StepContext) -> InfraArmOutputs:
        settings = self._settings(ctx)
        name = self._name(ctx)
        client = client_for(ctx, settings)
        try:
            state = self._deploy(ctx, client, settings, name)
            failures = [] if state.provisioning_state == "Succeeded" else _failures(client, name)
        except IntegrationError as exc:
            raise StepError(f"infrastructure: {exc.message}", details=exc.details) from exc
        finally:
            client.close()
        record = _record(state, settings, failures)
        ctx.store.update_deployment_data(ctx.deployment.id, arm_deployment=record)
        if not state.done:
            raise NeedsPerson(
                f"ARM deployment {name} is still {state.provisioning_state} after"
                f" {settings.timeout:g} s; `turnout resume` follows it",
                details={"arm_deployment": record.to_dict()},
            )
        if state.provisioning_state != "Succeeded":
            raise _failure(record)
        return self._validated(settings, record, observed=False)

    def _deploy(
        self, ctx: StepContext, client: ArmClient, settings: ArmInfraConfig, name: str
    ) -> DeploymentState:
        """Start the deployment (or find the one an earlier run started) and follow it,
        and ARM's roll back after a failure, to the end."""
        earlier = client.get(name)
        if earlier is None:
            template = load_template(ctx, settings)
            poller = client.start(name, template, settings.mode)
            ctx.store.update_deployment_data(
                ctx.deployment.id,
                arm_deployment=ArmDeploymentRecord(
                    name, settings.resource_group, "Accepted", mode=settings.mode
                ),
            )
            ctx.progress(f"ARM deployment {name} of {template.source} to {settings.resource_group}")
            client.wait(poller, settings.timeout)
        else:
            ctx.progress(
                f"following ARM deployment {name} started earlier ({earlier.provisioning_state})"
            )
        return client.follow(
            name,
            ctx.clock,
            timeout=settings.timeout,
            progress=ctx.progress,
            until=lambda s: s.done and s.rollback_done,
        )

    def _validated(
        self, settings: ArmInfraConfig, record: ArmDeploymentRecord, *, observed: bool
    ) -> InfraArmOutputs:
        problems, found = check_expectations(settings, record)
        if problems:
            raise NeedsPerson(
                f"ARM deployment {record.name} succeeded but "
                + "; ".join(problems)
                + "; ARM rolls back only failed deployments, so nothing was rolled back",
                details={"arm_deployment": record.to_dict()},
            )
        outputs = ", ".join(f"{k}={v}" for k, v in record.outputs.items()) or "no outputs"
        how = "had already succeeded" if observed else "succeeded"
        return InfraArmOutputs(
            summary=f"ARM deployment {record.name} {how} ({outputs})",
            deployment=record,
            checked_outputs=found,
        )

    def _settings(self, ctx: StepContext) -> ArmInfraConfig:
        settings = arm_settings(ctx.env)
        assert settings is not None  # the infra step dispatches here only for kind arm
        return settings

    def _name(self, ctx: StepContext) -> str:
        return deployment_name(ctx.env.name, ctx.deployment.id, ctx.deployment.version)


def check_expectations(
    settings: ArmInfraConfig, record: ArmDeploymentRecord
) -> tuple[list[str], list[str]]:
    """(what differs from the configured outputs and resources, what was found as
    expected)."""
    problems: list[str] = []
    found: list[str] = []
    for name, wanted in settings.expected_values().items():
        if name not in record.outputs:
            present = ", ".join(sorted(record.outputs)) or "none"
            problems.append(f"output {name!r} is missing (outputs: {present})")
            continue
        value = record.outputs[name]
        if wanted is not None and value != wanted and str(value) != str(wanted):
            problems.append(f"output {name!r} is {value!r}, expected {wanted!r}")
            continue
        found.append(f"output {name}")
    for wanted in settings.expected_resources:
        if any(resource_matches(r, wanted) for r in record.resources):
            found.append(f"resource {wanted}")
        else:
            problems.append(f"resource {wanted} was not deployed")
    return problems, found


def _failures(client: ArmClient, name: str) -> list[FailedOperation]:
    try:
        return client.failed_operations(name)
    except IntegrationError:
        return []  # the deployment's own error still says what failed


def _record(
    state: DeploymentState, settings: ArmInfraConfig, failures: list[FailedOperation]
) -> ArmDeploymentRecord:
    rollback = None
    if state.on_error is not None and state.provisioning_state != "Succeeded":
        oe = state.on_error
        rollback = ArmRollbackRecord(oe.type, oe.deployment_name, oe.provisioning_state)
    return ArmDeploymentRecord(
        name=state.name,
        resource_group=settings.resource_group,
        provisioning_state=state.provisioning_state,
        mode=state.mode or settings.mode,
        correlation_id=state.correlation_id,
        outputs=dict(state.outputs),
        resources=state.resources,
        error=state.error,
        failures=tuple(ArmOperationFailure(f.resource, f.code, f.message) for f in failures),
        rollback=rollback,
    )


def _failure(record: ArmDeploymentRecord) -> TurnoutError:
    """The failed deployment, naming each failed resource and ARM's error; a StepError
    (rolled back, exit 4) when ARM put the last successful deployment back, else
    NeedsPerson (exit 5)."""
    causes = "; ".join(f"{f.resource}: {f.code}: {f.message}" for f in record.failures)
    message = f"ARM deployment {record.name} {record.provisioning_state.lower()}: " + (
        causes or record.error or "no error reported"
    )
    details = {"arm_deployment": record.to_dict()}
    rollback = record.rollback
    if rollback is not None and rollback.succeeded:
        return StepError(
            f"{message}; ARM redeployed {rollback.deployment_name}, the last successful"
            f" deployment of {record.resource_group}",
            details=details,
        )
    if rollback is None or rollback.deployment_name is None:
        said = "ARM found no successful deployment to go back to"
    else:
        said = f"ARM's redeployment of {rollback.deployment_name} is {rollback.provisioning_state}"
    return NeedsPerson(f"{message}; {said}: the resource group needs a person", details=details)
