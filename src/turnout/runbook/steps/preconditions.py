"""Phase 1.3: production healthy, staging environment healthy, no active incident."""

from __future__ import annotations

from typing import Any

from turnout.errors import GateFailed
from turnout.integrations.incidents import active_incidents, split_unknown
from turnout.runbook.http_checks import failures, run_checks
from turnout.runbook.outputs import PreconditionsOutputs, ProductionHealth
from turnout.runbook.step import Step, StepContext
from turnout.store.records import AuditAction
from turnout.targets.protocol import PRODUCTION, PlatformChecks


class PreconditionsStep(Step):
    """Refuse to start on an unhealthy production or during an incident."""

    name = "preconditions"
    phase = "pre-deployment"
    gate = True

    def run(self, ctx: StepContext) -> PreconditionsOutputs:
        # The record's fields found so far: a refusal carries them as its evidence.
        found: dict[str, Any] = {}
        if isinstance(ctx.target, PlatformChecks):
            metrics = ctx.env.analysis.provider == "azure-monitor"
            found["platform"] = ctx.target.platform_preconditions(metrics=metrics)
        live = ctx.target.slots().get(PRODUCTION)
        if live is None or live.version is None:
            found["production"] = "empty (first deployment)"
        else:
            with ctx.http_client() as client:
                results = run_checks(
                    client,
                    ctx.target.production_url(),
                    ctx.env.checks.health,
                    version=live.version,
                )
            found["production"] = ProductionHealth(
                version=live.version, checks=[r.to_dict() for r in results]
            )
            problem = failures(results)
            if problem:
                raise GateFailed(
                    f"production is not healthy before deploying: {problem}",
                    details=PreconditionsOutputs(**found).journal(),
                )
        incidents, unknown = split_unknown(active_incidents(ctx.config, ctx.env, ctx.store))
        for source in unknown:
            # Configured to warn: said out loud, recorded, and not taken for "no incident".
            ctx.progress(f"warning: incident source {source.source} unknown: {source.title}")
        if unknown:
            found["unknown_sources"] = [f"{u.source}: {u.title}" for u in unknown]
        live_text = (
            "nothing live yet"
            if live is None or live.version is None
            else (f"production ({live.version}) healthy")
        )
        summary = f"{live_text}, no active incident"
        if unknown:
            names = ", ".join(u.source for u in unknown)
            summary = f"{live_text}, no active incident known ({names} unknown)"
        if incidents:
            listed = ", ".join(f"{i.source} #{i.id} {i.title!r}" for i in incidents)
            if not ctx.deployment.emergency:
                raise GateFailed(
                    f"active incident(s): {listed}", details=PreconditionsOutputs(**found).journal()
                )
            found["incidents_overridden"] = listed
            ctx.store.audit(
                ctx.deployment.deployer,
                AuditAction.PRECONDITIONS_INCIDENT_OVERRIDE,
                environment=ctx.env.name,
                deployment_id=ctx.deployment.id,
                incidents=listed,
                reason=ctx.deployment.reason,
            )
            summary = f"{live_text}; emergency despite {listed}"
        return PreconditionsOutputs(**found, summary=summary)
