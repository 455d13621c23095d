"""Gate: approvals (runbook "Required Access" and "Emergency Deployment")."""

from __future__ import annotations

from turnout.errors import ApprovalRequired
from turnout.policy.approvals import approval_status
from turnout.policy.flags import read_flags
from turnout.policy.rules import WindowOverride
from turnout.policy.signed_approvals import release_subject
from turnout.policy.windows import decide_window, evaluate_window
from turnout.runbook.outputs import ApprovalOutputs, WindowOutputs
from turnout.runbook.step import Step, StepContext
from turnout.store.records import AuditAction


class ApprovalStep(Step):
    """Waits (exit 3, waiting-approval) until the needed approvals are recorded.

    An approved emergency deployment opens its post-mortem record here, once.
    """

    name = "approval"
    phase = "pre-deployment"
    gate = True

    def run(self, ctx: StepContext) -> ApprovalOutputs:
        flags = read_flags(ctx.store, ctx.deployment)
        dep_id = ctx.deployment.id
        window = ctx.output(WindowOutputs)
        if window is not None:
            overrides = WindowOverride.parse(window.override)
        else:
            verdict = evaluate_window(ctx.config, ctx.env, ctx.store, ctx.clock.now())
            overrides = decide_window(ctx.env, verdict, flags).overrides
        approvals = ctx.store.approvals(dep_id)
        row = ctx.store.deployment(dep_id) if approvals else None
        status = approval_status(
            ctx.config,
            ctx.env,
            approvals,
            flags,
            deployment_id=dep_id,
            outside_window=WindowOverride.OUTSIDE_WINDOW in overrides,
            subject=release_subject(ctx.config, row) if row is not None else None,
        )
        if not status.ok:
            message = status.waiting_message(ctx.env.name)
            ctx.store.audit(
                flags.deployer,
                AuditAction.APPROVAL_WAITING,
                environment=ctx.env.name,
                deployment_id=dep_id,
                missing=[r.to_dict() for r in status.missing],
                may_approve=status.may_approve,
                ignored=status.ignored,
            )
            raise ApprovalRequired(message, details=status.to_dict())
        outputs = ApprovalOutputs.model_validate(status.to_dict())
        if status.requirements:
            ctx.store.audit(
                flags.deployer,
                AuditAction.APPROVAL_GRANTED,
                environment=ctx.env.name,
                deployment_id=dep_id,
                met=status.met,
            )
        if flags.emergency:
            postmortem = self._postmortem(ctx, dep_id, flags.reason, flags.deployer)
            return outputs.model_copy(update={"postmortem": postmortem})
        return outputs

    @staticmethod
    def _postmortem(ctx: StepContext, dep_id: int, reason: str | None, deployer: str) -> int:
        existing = [p for p in ctx.store.postmortems(ctx.env.name) if p.deployment_id == dep_id]
        if existing:
            return existing[0].id
        row = ctx.store.open_postmortem(
            dep_id, ctx.env.name, reason or "emergency deployment (no reason given)"
        )
        ctx.store.audit(
            deployer,
            AuditAction.POSTMORTEM_OPENED,
            environment=ctx.env.name,
            deployment_id=dep_id,
            postmortem=row.id,
            reason=reason,
        )
        return row.id
