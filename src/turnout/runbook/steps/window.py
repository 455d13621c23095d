"""Gate: the deployment window and freeze calendar (runbook "Deployment Timing")."""

from __future__ import annotations

from typing import Any

from turnout.errors import GateFailed
from turnout.policy.flags import read_flags
from turnout.policy.rules import WindowOverride
from turnout.policy.windows import decide_window, evaluate_window
from turnout.runbook.outputs import WindowOutputs
from turnout.runbook.step import Step, StepContext
from turnout.store.records import AuditAction


class WindowStep(Step):
    """Refuses outside the allowed window unless an override applies; audits the verdict."""

    name = "window"
    phase = "pre-deployment"
    gate = True

    def run(self, ctx: StepContext) -> WindowOutputs:
        flags = read_flags(ctx.store, ctx.deployment)
        verdict = evaluate_window(ctx.config, ctx.env, ctx.store, ctx.clock.now())
        decision = decide_window(ctx.env, verdict, flags)
        where: dict[str, Any] = {
            "environment": ctx.env.name,
            "deployment_id": ctx.deployment.id,
        }
        audit: dict[str, Any] = {
            "verdict": verdict.kind.value,
            "at": verdict.at.isoformat(),
            "rules": [r.to_dict() for r in verdict.rules],
            "message": decision.message,
        }
        if not decision.ok:
            ctx.store.audit(
                flags.deployer, AuditAction.WINDOW_REFUSED, **where, **audit, flags=flags.to_dict()
            )
            raise GateFailed(decision.message, details=decision.to_dict())
        ctx.store.audit(
            flags.deployer, AuditAction.WINDOW_VERDICT, **where, **audit, override=decision.override
        )
        if decision.override:
            ctx.store.audit(
                flags.deployer,
                AuditAction.WINDOW_OVERRIDE,
                environment=ctx.env.name,
                deployment_id=ctx.deployment.id,
                override=decision.override,
                verdict=verdict.kind.value,
                why=flags.outside_window_reason
                if decision.overrides == (WindowOverride.OUTSIDE_WINDOW,)
                else flags.reason,
                flags=flags.to_dict(),
            )
        ctx.progress(f"window: {decision.message}")
        return WindowOutputs.model_validate(decision.to_dict())
