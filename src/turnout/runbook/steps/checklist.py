"""Gate: the runbook's pre-deployment checklist, item by item, with evidence."""

from __future__ import annotations

from turnout.errors import GateFailed
from turnout.policy.checklist import evaluate_checklist
from turnout.policy.flags import read_flags
from turnout.policy.windows import decide_window, evaluate_window
from turnout.runbook.outputs import ChecklistOutputs
from turnout.runbook.step import Step, StepContext
from turnout.store.records import AuditAction


class ChecklistStep(Step):
    """Refuses while a required checklist item fails, naming it; audits every result."""

    name = "checklist"
    phase = "pre-deployment"
    gate = True

    def run(self, ctx: StepContext) -> ChecklistOutputs:
        now = ctx.clock.now()
        flags = read_flags(ctx.store, ctx.deployment)
        decision = decide_window(
            ctx.env, evaluate_window(ctx.config, ctx.env, ctx.store, now), flags
        )
        report = evaluate_checklist(
            ctx.config, ctx.env, ctx.store, ctx.deployment, flags, now, decision
        )
        outputs = ChecklistOutputs.model_validate(report.to_dict())
        results = {i.key: i.kind.value for i in report.items}
        if not report.ok:
            ctx.store.audit(
                flags.deployer,
                AuditAction.CHECKLIST_REFUSED,
                environment=ctx.env.name,
                deployment_id=ctx.deployment.id,
                results=results,
                failed={i.key: i.summary for i in report.failed},
            )
            raise GateFailed(report.refusal(), details=outputs.journal())
        ctx.store.audit(
            flags.deployer,
            AuditAction.CHECKLIST_VERDICT,
            environment=ctx.env.name,
            deployment_id=ctx.deployment.id,
            results=results,
        )
        passed = sum(1 for i in report.items if i.kind.value in {"pass", "attested"})
        ctx.progress(f"checklist: {passed}/{len(report.items)} items pass or attested")
        return outputs
