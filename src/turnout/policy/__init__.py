"""Deployment policy: windows and freezes, the checklist, approvals, emergencies.

Each name is imported from its module when first used: a command that reads the window
rules does not pay for the approvals' or the checklist's imports."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from turnout.policy.approvals import ApprovalStatus as ApprovalStatus
    from turnout.policy.approvals import Requirement as Requirement
    from turnout.policy.approvals import approval_status as approval_status
    from turnout.policy.approvals import record_approval as record_approval
    from turnout.policy.approvals import requirements as requirements
    from turnout.policy.checklist import ChecklistReport as ChecklistReport
    from turnout.policy.checklist import ItemResult as ItemResult
    from turnout.policy.checklist import evaluate_checklist as evaluate_checklist
    from turnout.policy.checklist import record_attestation as record_attestation
    from turnout.policy.checklist import sarif_findings as sarif_findings
    from turnout.policy.flags import DeploymentFlags as DeploymentFlags
    from turnout.policy.flags import flags_from_data as flags_from_data
    from turnout.policy.flags import is_production as is_production
    from turnout.policy.flags import read_flags as read_flags
    from turnout.policy.gates import GateResult as GateResult
    from turnout.policy.gates import evaluate_gates as evaluate_gates
    from turnout.policy.rules import FiredRule as FiredRule
    from turnout.policy.rules import WindowKind as WindowKind
    from turnout.policy.windows import WindowDecision as WindowDecision
    from turnout.policy.windows import WindowVerdict as WindowVerdict
    from turnout.policy.windows import decide_window as decide_window
    from turnout.policy.windows import evaluate_window as evaluate_window
    from turnout.policy.windows import next_start as next_start
    from turnout.policy.windows import window_verdict as window_verdict

_EXPORTS = {
    "ApprovalStatus": "approvals",
    "Requirement": "approvals",
    "approval_status": "approvals",
    "record_approval": "approvals",
    "requirements": "approvals",
    "ChecklistReport": "checklist",
    "ItemResult": "checklist",
    "evaluate_checklist": "checklist",
    "record_attestation": "checklist",
    "sarif_findings": "checklist",
    "DeploymentFlags": "flags",
    "flags_from_data": "flags",
    "is_production": "flags",
    "read_flags": "flags",
    "GateResult": "gates",
    "evaluate_gates": "gates",
    "FiredRule": "rules",
    "WindowKind": "rules",
    "WindowDecision": "windows",
    "WindowVerdict": "windows",
    "decide_window": "windows",
    "evaluate_window": "windows",
    "next_start": "windows",
    "window_verdict": "windows",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'turnout.policy' has no attribute {name!r}")
    value = getattr(import_module(f"turnout.policy.{module}"), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value
