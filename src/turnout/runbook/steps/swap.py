"""Phase 3.4: swap the staging slot into production; undo swaps back and re-verifies."""

from __future__ import annotations

from typing import Any

from turnout.errors import StepError
from turnout.runbook.http_checks import failures, run_checks
from turnout.runbook.step import Step, StepContext
from turnout.runbook.steps.stage import staging_slot
from turnout.targets.protocol import PRODUCTION


class SwapStep(Step):
    """Exchange the staging slot with production; the old version stays warm in staging."""

    name = "swap"
    phase = "application"
    undoable = True

    def observe(self, ctx: StepContext) -> dict[str, Any] | None:
        live = ctx.target.slots().get(PRODUCTION)
        if live is not None and live.version == ctx.deployment.version:
            # Already swapped (a crash after the swap, or by hand): time it from now.
            return {
                "swapped_at": ctx.clock.now().timestamp(),
                "summary": f"production already runs {ctx.deployment.version}",
            }
        return None

    def run(self, ctx: StepContext) -> dict[str, Any]:
        slot = staging_slot(ctx)
        slots = ctx.target.slots()
        staged = slots.get(slot)
        if staged is None or staged.version != ctx.deployment.version:
            found = staged.version if staged else "nothing"
            raise StepError(
                f"slot {slot} holds {found}, not {ctx.deployment.version}; not swapping"
            )
        before = slots.get(PRODUCTION)
        swapped_at = ctx.clock.now().timestamp()
        ctx.target.swap(slot, PRODUCTION)
        return {
            "swapped_at": swapped_at,
            "slot": slot,
            "previous": before.version if before else None,
            "summary": f"{slot} swapped into production",
        }

    def undo(self, ctx: StepContext) -> dict[str, Any]:
        slot = staging_slot(ctx)
        slots = ctx.target.slots()
        live = slots.get(PRODUCTION)
        warm = slots.get(slot)
        if live is not None and live.version == ctx.deployment.version:
            if warm is None or warm.version is None:
                raise StepError(
                    f"there is no previous version to swap back to (slot {slot} is empty: this was"
                    f" the first deployment); production still runs {ctx.deployment.version}"
                )
            ctx.progress(f"swapping back: {slot} into production")
            ctx.target.swap(slot, PRODUCTION)
        live = ctx.target.slots().get(PRODUCTION)
        restored = live.version if live else None
        if restored == ctx.deployment.version:
            raise StepError(f"production still runs {restored} after swapping back")
        if restored is None:
            return {"production": None, "summary": "production is empty, as it was before"}
        with ctx.http_client() as client:
            results = run_checks(
                client, ctx.target.production_url(), ctx.env.checks.health, version=restored
            )
        problem = failures(results)
        if problem:
            raise StepError(f"swapped back to {restored}, but it is not healthy: {problem}")
        return {
            "production": restored,
            "checks": [r.to_dict() for r in results],
            "summary": f"production back on {restored}, verified",
        }
