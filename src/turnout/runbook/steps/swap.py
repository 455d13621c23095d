"""Phase 3.4: swap the staging slot into production; undo swaps back and re-verifies.

A swap may take minutes (App Service warms every instance first) and may fail after it
started. Its handle is journaled as soon as the target accepted it, so a `resume` after a
crash follows the same swap to its end instead of starting a second one; the time the
analysis judges from is when traffic moved, as the target reports it.
"""

from __future__ import annotations

from turnout.errors import StepError
from turnout.runbook.http_checks import failures, run_checks
from turnout.runbook.outputs import SwapOutputs, SwapUndoOutputs
from turnout.runbook.step import Step, StepContext
from turnout.runbook.steps.stage import staging_slot
from turnout.targets.protocol import (
    DEFAULT_WAIT,
    PRODUCTION,
    Deadline,
    Operation,
    OperationResult,
    OperationStatus,
)


class SwapStep(Step):
    """Exchange the staging slot with production; the old version stays warm in staging."""

    name = "swap"
    phase = "application"
    undoable = True

    def observe(self, ctx: StepContext) -> SwapOutputs | None:
        pending = ctx.operations.get(self.name)
        if pending is not None:
            # An earlier run began this swap: follow it to its end, never start a second.
            ctx.progress(f"following the swap of {pending.slot} an earlier run began")
            return self._outputs(ctx, pending, _follow(ctx, pending))
        live = ctx.target.slots().get(PRODUCTION)
        if live is not None and live.version == ctx.deployment.version:
            # Already swapped (by hand, or before a handle was kept): time it from now.
            return SwapOutputs(
                swapped_at=ctx.clock.now().timestamp(),
                summary=f"production already runs {ctx.deployment.version}",
            )
        return None

    def run(self, ctx: StepContext) -> SwapOutputs:
        slot = staging_slot(ctx)
        slots = ctx.target.slots()
        staged = slots.get(slot)
        if staged is None or staged.version != ctx.deployment.version:
            found = staged.version if staged else "nothing"
            raise StepError(
                f"slot {slot} holds {found}, not {ctx.deployment.version}; not swapping"
            )
        operation = ctx.target.begin_swap(slot, PRODUCTION, deadline=_deadline())
        ctx.track_operation(self.name, operation)
        return self._outputs(ctx, operation, _follow(ctx, operation))

    def _outputs(
        self, ctx: StepContext, operation: Operation, result: OperationResult
    ) -> SwapOutputs:
        slot = operation.slot
        if result.running:
            raise StepError(f"the swap of {slot} into production has not ended: {result.message}")
        if result.status is OperationStatus.FAILED:
            raise StepError(
                f"the swap of {slot} into production failed after it started: {result.message}"
            )
        moved = result.traffic_moved_at
        before = operation.detail.get("before") or {}
        return SwapOutputs(
            swapped_at=moved if moved is not None else ctx.clock.now().timestamp(),
            slot=slot,
            previous=before.get(PRODUCTION),
            operation=operation.to_dict(),
            summary=f"{slot} swapped into production",
        )

    def undo(self, ctx: StepContext) -> SwapUndoOutputs:
        slot = staging_slot(ctx)
        for key in (self.name, f"{self.name}:undo"):
            pending = ctx.operations.get(key)
            if pending is not None and _follow(ctx, pending).running:
                # Swapping back while a swap runs would race it: a person looks.
                where = pending.polling_url or "no polling URL"
                raise StepError(
                    f"the swap of {pending.slot} is still running ({where}); not swapping"
                    " back over it"
                )
        slots = ctx.target.slots()
        live = slots.get(PRODUCTION)
        warm = slots.get(slot)
        swapped_back = False
        if live is not None and live.version == ctx.deployment.version:
            if warm is None or warm.version is None:
                raise StepError(
                    f"there is no previous version to swap back to (slot {slot} is empty: this was"
                    f" the first deployment); production still runs {ctx.deployment.version}"
                )
            ctx.progress(f"swapping back: {slot} into production")
            back = ctx.target.begin_swap(slot, PRODUCTION, deadline=_deadline())
            ctx.track_operation(self.name, back, undo=True)
            result = _follow(ctx, back)
            if result.status is not OperationStatus.SUCCEEDED:
                raise StepError(f"swapping back did not complete: {result.message}")
            swapped_back = True
        live = ctx.target.slots().get(PRODUCTION)
        restored = live.version if live else None
        if restored == ctx.deployment.version:
            raise StepError(f"production still runs {restored} after swapping back")
        if restored is None:
            return SwapUndoOutputs(
                production=None,
                swapped_back=swapped_back,
                summary="production is empty, as it was before",
            )
        with ctx.http_client() as client:
            results = run_checks(
                client, ctx.target.production_url(), ctx.env.checks.health, version=restored
            )
        problem = failures(results)
        if problem:
            raise StepError(f"swapped back to {restored}, but it is not healthy: {problem}")
        return SwapUndoOutputs(
            production=restored,
            swapped_back=swapped_back,
            checks=[r.to_dict() for r in results],
            summary=f"production back on {restored}, verified",
        )


def _deadline() -> Deadline:
    # The target bounds each wait by its own timeouts too (azure: swap_timeout).
    return Deadline.after(DEFAULT_WAIT)


def _follow(ctx: StepContext, operation: Operation) -> OperationResult:
    return ctx.target.follow(operation, deadline=_deadline())
