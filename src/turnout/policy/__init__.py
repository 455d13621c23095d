"""Deployment policy: windows and freezes, the checklist, approvals, emergencies."""

from turnout.policy.approvals import (
    ApprovalStatus,
    Requirement,
    approval_status,
    record_approval,
    requirements,
)
from turnout.policy.checklist import (
    ChecklistReport,
    ItemResult,
    evaluate_checklist,
    record_attestation,
    sarif_findings,
)
from turnout.policy.flags import DeploymentFlags, flags_from_data, is_production, read_flags
from turnout.policy.gates import GateResult, evaluate_gates
from turnout.policy.rules import FiredRule, WindowKind
from turnout.policy.windows import (
    WindowDecision,
    WindowVerdict,
    decide_window,
    evaluate_window,
    next_start,
    window_verdict,
)

__all__ = [
    "ApprovalStatus",
    "ChecklistReport",
    "DeploymentFlags",
    "FiredRule",
    "GateResult",
    "ItemResult",
    "Requirement",
    "WindowDecision",
    "WindowKind",
    "WindowVerdict",
    "approval_status",
    "decide_window",
    "evaluate_checklist",
    "evaluate_gates",
    "evaluate_window",
    "flags_from_data",
    "is_production",
    "next_start",
    "read_flags",
    "record_approval",
    "record_attestation",
    "requirements",
    "sarif_findings",
    "window_verdict",
]
