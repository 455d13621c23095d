"""Every gate's verdict for a deployment, without changing anything (for `turnout plan`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from turnout.policy.approvals import approval_status
from turnout.policy.checklist import evaluate_checklist
from turnout.policy.flags import DeploymentFlags, read_flags, recorded_id
from turnout.policy.rules import WindowOverride
from turnout.policy.signed_approvals import release_subject
from turnout.policy.windows import decide_window, evaluate_window

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.model import PlannedDeployment
    from turnout.store import Store


@dataclass(frozen=True)
class GateResult:
    """One line of the plan's gate table."""

    gate: str
    """"checklist", "window" or "approval"."""
    item: str
    title: str
    verdict: str
    """pass/fail/attested/not-applicable; best/acceptable/avoid/frozen; approved/waiting."""
    ok: bool
    """Whether this line lets the deployment through now."""
    required: bool
    summary: str
    reasons: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        """Whether this line would stop the deployment (exit 3)."""
        return self.required and not self.ok

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "gate": self.gate,
            "item": self.item,
            "title": self.title,
            "verdict": self.verdict,
            "ok": self.ok,
            "required": self.required,
            "blocking": self.blocking,
            "summary": self.summary,
            "reasons": list(self.reasons),
            "evidence": dict(self.evidence),
        }


def evaluate_gates(
    config: LoadedConfig,
    env: EnvironmentConfig,
    store: Store,
    deployment_info: PlannedDeployment,
    *,
    at: datetime | None = None,
    flags: DeploymentFlags | None = None,
) -> list[GateResult]:
    """Checklist items, the window verdict and the approval needs, in plan order.

    `flags` default to what is recorded for the deployment (deployments.data) when it
    exists, else to the info's emergency/reason; `at` defaults to the store's clock.
    """
    when = at or store.now()
    flags = flags or read_flags(store, deployment_info)
    verdict = evaluate_window(config, env, store, when)
    decision = decide_window(env, verdict, flags)
    report = evaluate_checklist(config, env, store, deployment_info, flags, when, decision)
    results = [
        GateResult(
            gate="checklist",
            item=item.key,
            title=item.title,
            verdict=item.kind.value,
            ok=item.kind.value != "fail",
            required=item.required,
            summary=item.summary,
            reasons=[item.summary],
            evidence={"source": item.source, **item.evidence},
        )
        for item in report.items
    ]
    results.append(
        GateResult(
            gate="window",
            item="window",
            title="Deployment window",
            verdict=verdict.kind.value,
            ok=decision.ok,
            required=True,
            summary=decision.message,
            reasons=[r.reason for r in verdict.rules],
            evidence=decision.to_dict(),
        )
    )
    dep_id = recorded_id(deployment_info)
    approvals = store.approvals(dep_id) if dep_id is not None else []
    row = store.deployment(dep_id) if approvals and dep_id is not None else None
    status = approval_status(
        config,
        env,
        approvals,
        flags,
        deployment_id=dep_id,
        outside_window=WindowOverride.OUTSIDE_WINDOW in decision.overrides,
        subject=release_subject(config, row) if row is not None else None,
    )
    if not status.requirements:
        summary = "no approval needed"
    elif status.ok:
        summary = "approved by " + ", ".join(
            f"{m['approver']} ({m['signature']})" for m in status.met.values()
        )
    else:
        summary = status.waiting_message(env.name)
    results.append(
        GateResult(
            gate="approval",
            item="approval",
            title="Approval",
            verdict="approved" if status.ok else "waiting",
            ok=status.ok,
            required=True,
            summary=summary,
            reasons=[r.describe() for r in status.missing],
            evidence=status.to_dict(),
        )
    )
    return results
