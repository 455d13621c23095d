"""`deploy` and `resume`: run the runbook, or continue an interrupted deployment."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from turnout.api.context import ConfigSource, acting_user, load, open_store
from turnout.api.packages import resolve_package
from turnout.errors import BadInput, NeedsPerson
from turnout.history import DeploymentDocument, deployment_summary
from turnout.model import DeploymentStatus, DeploymentType, Release
from turnout.runbook.engine import Engine, Result, StepEvent
from turnout.runbook.traffic import (
    SWAP_STEP,
    journaled_canary_exposure,
    journaled_swap_moved_traffic,
)
from turnout.store import Store
from turnout.versions import check_version

EventSink = Callable[[StepEvent], None]
"""Receives each step's progress (started, succeeded, failed, a line of live progress)."""
Notice = Callable[[str], None]
"""Receives a line about what the call is doing (e.g. waiting for an approval)."""
APPROVAL_POLL_S = 2.0


@dataclass(frozen=True)
class DeployResult:
    """How a deployment ended: its id, status and exit code (docs/cli.md), the engine's
    message, the deployment with its journal, and how long each step took."""

    deployment_id: int
    status: DeploymentStatus
    exit_code: int
    message: str
    deployment: DeploymentDocument
    details: Mapping[str, Any] = field(default_factory=dict)
    step_seconds: Mapping[str, float] = field(default_factory=dict)

    @property
    def environment(self) -> str:
        """The environment deployed to."""
        return str(self.deployment["environment"])

    @property
    def traffic_moved(self) -> bool:
        """Whether production's traffic moved (a plan without a swap, e.g. infra, counts)."""
        steps = self.deployment.get("steps") or []
        swap = next((s for s in steps if s["step"] == SWAP_STEP), None)
        if swap is None:
            return True
        return journaled_swap_moved_traffic(swap["status"], swap.get("outputs"))

    @property
    def outcome(self) -> str:
        """The ending in words: the status, unless what was undone never moved traffic."""
        if self.status is DeploymentStatus.ROLLED_BACK and not self.traffic_moved:
            if self.failed_step == SWAP_STEP:
                # It started, so "before any traffic moved" would hide that it was tried.
                return "swap failed, production never changed"
            canary = journaled_canary_exposure(self.deployment.get("steps"))
            if canary is not None:
                # Never swapped, but the canary's users met the new version.
                return (
                    f"canary rolled back after the new version served {canary.served} user"
                    f" requests ({canary.failed} failed); production was never swapped"
                )
            return "failed before any traffic moved, production untouched"
        return self.status.value

    @property
    def failed_step(self) -> str | None:
        """The step whose failure ended the deployment, if one failed."""
        failure = self.deployment.get("failure")
        step = failure.get("step") if isinstance(failure, Mapping) else None
        return step if isinstance(step, str) else None

    @property
    def headline(self) -> str:
        """The message's first line (a log tail after it is told once, with the evidence),
        without "rolled back" when production never changed."""
        from turnout.text import first_line

        line = first_line(self.message)
        if self.status is DeploymentStatus.ROLLED_BACK and not self.traffic_moved:
            return line.removesuffix("; rolled back")
        return line

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout deploy --json` prints)."""
        return {**self.deployment, "exit_code": self.exit_code}


@dataclass(frozen=True)
class HeldDeployment:
    """A deployment that needs a person: resuming cannot decide for them."""

    id: int
    version: str
    message: str | None


@dataclass(frozen=True)
class ResumeResult:
    """What resume did: the deployment it continued, or none (perhaps one is held)."""

    environment: str
    resumed: DeployResult | None
    held: HeldDeployment | None

    @property
    def exit_code(self) -> int:
        """The continued deployment's exit code; a held one needs a person; else 0."""
        if self.resumed is not None:
            return self.resumed.exit_code
        return NeedsPerson.exit_code if self.held is not None else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout resume --json` prints)."""
        if self.resumed is not None:
            return self.resumed.to_dict()
        return {
            "environment": self.environment,
            "resumed": None,
            "needs_person": self.held.id if self.held else None,
        }


def _result(store: Store, engine: Engine, ran: Result) -> DeployResult:
    return DeployResult(
        deployment_id=ran.deployment_id,
        status=ran.status,
        exit_code=ran.exit_code,
        message=ran.message,
        deployment=deployment_summary(store, ran.deployment_id),
        details=dict(ran.details),
        step_seconds=dict(engine.step_seconds),
    )


def deploy(
    env: str,
    version: str,
    *,
    package: Path | None = None,
    kind: DeploymentType = DeploymentType.APP,
    emergency: bool = False,
    reason: str | None = None,
    outside_window: bool = False,
    fixes_incidents: Iterable[str] = (),
    changes: str | None = None,
    wait_approval: float | None = None,
    actor: str | None = None,
    config: ConfigSource = None,
    on_event: EventSink | None = None,
    notice: Notice | None = None,
    confirm: Callable[[str], bool] | None = None,
) -> DeployResult:
    """Run the runbook: deploy `version` to `env`.

    Refusals before any change raise (exit 2 or 3); a deployment that ran returns its
    result whatever its ending. With `wait_approval`, a deployment waiting for an approval
    waits up to that many seconds for one and then goes on (or stays waiting). `confirm`
    is asked once the request is checked, before anything runs; False changes nothing.
    """
    check_version(version)
    loaded = load(config)
    environment = loaded.env(env)
    if emergency and not reason:
        raise BadInput("--emergency needs --reason TEXT")
    if outside_window and not reason:
        raise BadInput("--outside-window needs --reason TEXT")
    release = Release(version, resolve_package(loaded, environment, version, package))
    if confirm is not None and not confirm(f"Deploy {version} to {environment.name}?"):
        raise BadInput("not confirmed; nothing was changed")
    deployer = acting_user(actor)
    data: dict[str, Any] = {}
    if outside_window:
        data = {"outside_window": True, "outside_window_reason": reason}
    fixes = [str(i) for i in fixes_incidents]
    if fixes:
        data["fixes_incidents"] = fixes
    with open_store(loaded) as store:
        engine = Engine(loaded, environment, store, on_event=on_event)
        ran = engine.deploy(
            release,
            kind,
            deployer,
            emergency=emergency,
            reason=reason,
            changes=changes or loaded.root.app.changes,
            data=data,
        )
        if ran.status is DeploymentStatus.WAITING_APPROVAL and wait_approval:
            ran = _wait_and_resume(engine, store, ran, deployer, wait_approval, notice)
        return _result(store, engine, ran)


def _wait_and_resume(
    engine: Engine,
    store: Store,
    ran: Result,
    deployer: str,
    timeout: float,
    notice: Notice | None,
) -> Result:
    """Poll for a new approval until `timeout`, then resume (which re-runs the gate)."""
    if notice is not None:
        notice(f"waiting up to {timeout:g} s for an approval of deployment {ran.deployment_id}")
    known = len(store.approvals(ran.deployment_id))
    deadline = engine.clock.monotonic() + timeout
    while engine.clock.monotonic() < deadline:
        if len(store.approvals(ran.deployment_id)) > known:
            return engine.resume(deployer) or ran
        engine.clock.sleep(APPROVAL_POLL_S)
    return ran


def resume(
    env: str,
    *,
    force_unlock: bool = False,
    actor: str | None = None,
    config: ConfigSource = None,
    on_event: EventSink | None = None,
) -> ResumeResult:
    """Continue (or compensate) the interrupted or approved deployment of `env`."""
    loaded = load(config)
    environment = loaded.env(env)
    with open_store(loaded) as store:
        engine = Engine(loaded, environment, store, on_event=on_event)
        ran = engine.resume(acting_user(actor), force_unlock=force_unlock)
        if ran is not None:
            return ResumeResult(environment.name, _result(store, engine, ran), None)
        latest = store.deployments(environment.name, limit=1)
    row = latest[0] if latest else None
    held = (
        HeldDeployment(row.id, row.version, row.message)
        if row is not None and row.status == DeploymentStatus.NEEDS_PERSON.value
        else None
    )
    return ResumeResult(environment.name, None, held)
