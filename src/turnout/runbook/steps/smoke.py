"""Phase 3.3: smoke tests on the staging slot's own URL."""

from __future__ import annotations

from turnout.errors import StepError
from turnout.runbook.http_checks import failures, run_checks
from turnout.runbook.outputs import SmokeOutputs
from turnout.runbook.step import Step, StepContext
from turnout.runbook.steps.stage import staging_slot
from turnout.runbook.steps.warmup import slot_url


class SmokeStep(Step):
    """Every configured smoke check must pass before any traffic moves."""

    name = "smoke"
    phase = "application"

    def run(self, ctx: StepContext) -> SmokeOutputs:
        base = slot_url(ctx, staging_slot(ctx))
        with ctx.http_client() as client:
            results = run_checks(client, base, ctx.env.checks.smoke, version=ctx.deployment.version)
        checks = [r.to_dict() for r in results]
        problem = failures(results)
        if problem:
            raise StepError(
                f"smoke tests failed: {problem}", details=SmokeOutputs(checks=checks).journal()
            )
        return SmokeOutputs(checks=checks, summary=f"{len(results)} smoke checks passed")
