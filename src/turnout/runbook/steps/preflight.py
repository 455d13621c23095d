"""Before anything is announced: everything about the release that can be known without
changing anything.

The package exists and is safe to unpack, the version is not already live, the
migration files are valid and agree with the database's history (no applied file
changed, no pending version older than an applied one), and the target answers. A
refusal here is bad input (exit 2) or a refusal (exit 3) recorded before the start
announcement, the tracking issue or the staging slot: nobody hears of a deployment that
never started, and the warm previous version stays in its slot for a swap back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from turnout.errors import BadInput, GateFailed, Refused, TurnoutError, Unavailable
from turnout.runbook.outputs import PreflightOutputs
from turnout.runbook.step import PlannedRelease, ReleaseContext, Step, StepContext
from turnout.runbook.steps.database import release_package, service
from turnout.targets.protocol import PRODUCTION, FollowsConfiguration, SlotState

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.model import PlannedDeployment
    from turnout.policy.gates import GateResult
    from turnout.store import Store


@dataclass(frozen=True)
class PreflightReport:
    """What the checks found (journaled as the step's outputs)."""

    package: str
    live_version: str | None
    pending_migrations: list[str] = field(default_factory=list)

    def to_outputs(self) -> PreflightOutputs:
        """The step's outputs record, with a one-line summary."""
        live = f"{self.live_version} live" if self.live_version else "nothing live yet"
        pending = (
            f"{len(self.pending_migrations)} migration(s) pending"
            if self.pending_migrations
            else "no migration pending"
        )
        return PreflightOutputs(
            package=self.package,
            live_version=self.live_version,
            pending_migrations=self.pending_migrations,
            summary=f"package safe to unpack, target answers ({live}), {pending}",
        )


def check_release(ctx: ReleaseContext) -> PreflightReport:
    """Every check that needs no change; raises BadInput (2) or Refused (3)."""
    package = release_package(ctx)
    ctx.target.check_package(package)
    live = _live_slot(ctx)
    if isinstance(ctx.target, FollowsConfiguration):
        ctx.target.check_settings()  # a host that would refuse the deploy, refuses it now
    if live is not None and live.version == ctx.deployment.version:
        # Staging it again would replace the warm previous version: the rollback copy.
        raise GateFailed(
            f"{ctx.deployment.version} is already live on {ctx.env.name}; nothing was changed"
        )
    pending: list[str] = []
    if ctx.env.database.url is not None:
        pending = _pending_migrations(ctx)
    return PreflightReport(
        str(package), live.version if live is not None else None, pending_migrations=pending
    )


def _live_slot(ctx: ReleaseContext) -> SlotState | None:
    """Production's slot as the target reports it; Unavailable when the target is silent."""
    try:
        return ctx.target.slots().get(PRODUCTION)
    except (BadInput, Refused):
        raise
    except (TurnoutError, OSError) as exc:
        message = exc.message if isinstance(exc, TurnoutError) else str(exc)
        raise Unavailable(
            f"target of {ctx.env.name} does not answer: {message}; nothing was changed"
        ) from exc


def _pending_migrations(ctx: ReleaseContext) -> list[str]:
    """Pending files of the release, checked against the database's history."""
    svc = service(ctx)
    migrations = svc.load_migrations(release_package(ctx))
    try:
        pending = svc.pending(migrations)
    except (BadInput, Refused):
        raise  # a changed applied file, a version older than an applied one: exit 2
    except TurnoutError as exc:
        raise Unavailable(
            f"database {svc.location.describe()}: {exc.message}; nothing was changed"
        ) from exc
    return [m.filename for m in pending]


class PreflightStep(Step):
    """Refuse a release that cannot succeed before the deployment is announced."""

    name = "preflight"
    phase = "pre-deployment"
    gate = True

    def run(self, ctx: StepContext) -> PreflightOutputs:
        infra = None
        if "infra" in ctx.statuses:
            from turnout.runbook.steps.infra_arm import infra_preflight

            infra = infra_preflight(ctx)  # ARM's what-if: deletes not allowed refuse here
        if "stage" not in ctx.statuses:
            # An infrastructure-only deployment has no package or slot to check.
            summary = "no application release in this plan; nothing to check"
            if infra is not None:
                counts = ", ".join(f"{n} {k}" for k, n in infra["counts"].items())
                summary = f"no application release in this plan; ARM's what-if: {counts}"
            return PreflightOutputs(summary=summary, infra=infra)
        outputs = check_release(ctx).to_outputs()
        if infra is None:
            return outputs
        return PreflightOutputs(**outputs.model_dump(exclude_unset=True), infra=infra)


def preflight_gate(
    config: LoadedConfig, env: EnvironmentConfig, store: Store, deployment: PlannedDeployment
) -> GateResult:
    """The preflight checks as a line of `turnout plan`'s gate table (changes nothing)."""
    from turnout.clock import SystemClock
    from turnout.policy.gates import GateResult

    ctx = PlannedRelease(config, env, store, deployment, SystemClock())
    title = "Release can be deployed"
    try:
        report = check_release(ctx)
    except TurnoutError as exc:
        verdict = "bad-input" if isinstance(exc, BadInput) else "refused"
        return GateResult("preflight", "preflight", title, verdict, False, True, exc.message)
    outputs = report.to_outputs()
    evidence = outputs.journal()
    del evidence["summary"]  # the gate's line says it
    return GateResult(
        "preflight", "preflight", title, "pass", True, True, str(outputs.summary),
        evidence=evidence,
    )  # fmt: skip
