"""Phase 3.1: create the staging slot and deploy the package to it."""

from __future__ import annotations

from turnout.errors import GateFailed, PackageError, StepError
from turnout.model import Release
from turnout.runbook.outputs import StageOutputs
from turnout.runbook.step import Step, StepContext
from turnout.targets.protocol import (
    DEFAULT_WAIT,
    PRODUCTION,
    Deadline,
    Operation,
    OperationStatus,
    SlotState,
    SlotStatus,
)


def staging_slot(ctx: StepContext) -> str:
    """The slot new versions are staged in (`blue` by default, as in the runbook)."""
    return ctx.env.target.staging_slot


class StageStep(Step):
    """Put the release into the staging slot and start it."""

    name = "stage"
    phase = "application"

    def observe(self, ctx: StepContext) -> StageOutputs | None:
        pending = ctx.operations.get(self.name)
        if pending is not None:
            # An earlier run began this deploy (the target may still be at it): follow that
            # one instead of uploading again; one that failed is started afresh by `run`.
            ctx.progress(f"following the deploy to slot {pending.slot} an earlier run began")
            result = ctx.target.follow(pending, deadline=Deadline.after(DEFAULT_WAIT))
            if result.status is OperationStatus.FAILED:
                return None
            return self._outputs(ctx, pending, result.state, result.message)
        # Only this deployment's own cut-off attempt counts as done: a slot that runs the
        # same version from an earlier deployment may hold another build of it.
        if self.name not in ctx.cut_off:
            return None
        slot = ctx.target.slots().get(staging_slot(ctx))
        running = slot is not None and slot.state is SlotStatus.RUNNING
        if slot is not None and running and slot.version == ctx.deployment.version:
            return StageOutputs(
                slot=slot.name, url=slot.url, summary=f"{slot.name} already runs it"
            )
        return None

    def run(self, ctx: StepContext) -> StageOutputs:
        package = ctx.deployment.package
        if package is None or not package.exists():
            raise PackageError(f"{package}: release package not found")
        slot_name = staging_slot(ctx)
        live = ctx.target.slots().get(PRODUCTION)
        if live is not None and live.version == ctx.deployment.version:
            # Staging it again would replace the warm previous version: the rollback copy.
            raise GateFailed(f"{ctx.deployment.version} is already live on {ctx.env.name}")
        ctx.progress(f"creating slot {slot_name} if needed")
        ctx.target.ensure_slot(slot_name)
        ctx.progress(f"deploying {ctx.deployment.version} to slot {slot_name}")
        deadline = Deadline.after(DEFAULT_WAIT)
        release = Release(ctx.deployment.version, package)
        operation = ctx.target.begin_deploy(slot_name, release, deadline=deadline)
        ctx.track_operation(self.name, operation)
        result = ctx.target.follow(operation, deadline=deadline)
        if result.status is OperationStatus.FAILED:
            raise StepError(result.message or f"deploying to slot {slot_name} failed")
        return self._outputs(ctx, operation, result.state, result.message)

    def _outputs(
        self, ctx: StepContext, operation: Operation, state: SlotState | None, message: str
    ) -> StageOutputs:
        slot_name = operation.slot
        if state is None:
            # Still running at the deadline: a later `resume` follows the same handle.
            raise StepError(f"deploy to slot {slot_name} has not ended: {message}")
        if state.state is not SlotStatus.RUNNING:
            raise StepError(f"slot {slot_name} is {state.state} after deploying: {state.detail}")
        # Which build went where: a version label can name more than one package.
        build = f" (build {state.build})" if state.build else ""
        return StageOutputs(
            slot=slot_name,
            url=state.url,
            build=state.build,
            package=str(ctx.deployment.package),
            operation=operation.to_dict(),
            summary=f"{ctx.deployment.version}{build} running in slot {slot_name}",
        )
