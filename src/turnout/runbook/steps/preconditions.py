"""Phase 1.3: production healthy, staging environment healthy, no active incident."""

from __future__ import annotations

from typing import Any

from turnout.errors import GateFailed
from turnout.integrations.incidents import active_incidents, split_unknown
from turnout.runbook.http_checks import failures, run_checks
from turnout.runbook.step import Step, StepContext
from turnout.store.records import AuditAction
from turnout.targets.protocol import PRODUCTION, PlatformChecks


class PreconditionsStep(Step):
    """Refuse to start on an unhealthy production or during an incident."""

    name = "preconditions"
    phase = "pre-deployment"
    gate = True

    def run(self, ctx: StepContext) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        if isinstance(ctx.target, PlatformChecks):
            metrics = ctx.env.analysis.provider == "azure-monitor"
            outputs["platform"] = ctx.target.platform_preconditions(metrics=metrics)
        live = ctx.target.slots().get(PRODUCTION)
        if live is None or live.version is None:
            outputs["production"] = "empty (first deployment)"
        else:
            with ctx.http_client() as client:
                results = run_checks(
                    client,
                    ctx.target.production_url(),
                    ctx.env.checks.health,
                    version=live.version,
                )
            outputs["production"] = {
                "version": live.version,
                "checks": [r.to_dict() for r in results],
            }
            problem = failures(results)
            if problem:
                raise GateFailed(
                    f"production is not healthy before deploying: {problem}", details=outputs
                )
        incidents, unknown = split_unknown(active_incidents(ctx.config, ctx.env, ctx.store))
        for source in unknown:
            # Configured to warn: said out loud, recorded, and not taken for "no incident".
            ctx.progress(f"warning: incident source {source.source} unknown: {source.title}")
        if unknown:
            outputs["unknown_sources"] = [f"{u.source}: {u.title}" for u in unknown]
        if incidents:
            listed = ", ".join(f"{i.source} #{i.id} {i.title!r}" for i in incidents)
            if not ctx.deployment.emergency:
                raise GateFailed(f"active incident(s): {listed}", details=outputs)
            outputs["incidents_overridden"] = listed
            ctx.store.audit(
                ctx.deployment.deployer,
                AuditAction.PRECONDITIONS_INCIDENT_OVERRIDE,
                environment=ctx.env.name,
                deployment_id=ctx.deployment.id,
                incidents=listed,
                reason=ctx.deployment.reason,
            )
        live_text = (
            "nothing live yet"
            if live is None or live.version is None
            else (f"production ({live.version}) healthy")
        )
        outputs["summary"] = f"{live_text}, no active incident"
        if unknown:
            names = ", ".join(u.source for u in unknown)
            outputs["summary"] = f"{live_text}, no active incident known ({names} unknown)"
        if "incidents_overridden" in outputs:
            outputs["summary"] = f"{live_text}; emergency despite {outputs['incidents_overridden']}"
        return outputs
