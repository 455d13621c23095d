"""turnout's public Python API: one function per command, each returning a frozen, typed
result with `to_dict()` (the JSON document the command's `--json` prints).

The CLI, the demo and any dashboard call these functions; see docs/api.md. Importing
`turnout.api` is cheap: each function's module (and the engine, the store, the policy
engine behind it) is imported the first time the function is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from turnout.api.audit_chain import AuditCheckResult as AuditCheckResult
    from turnout.api.audit_chain import verify_audit as verify_audit
    from turnout.api.context import ConfigSource as ConfigSource
    from turnout.api.context import acting_user as acting_user
    from turnout.api.deploying import DeployResult as DeployResult
    from turnout.api.deploying import HeldDeployment as HeldDeployment
    from turnout.api.deploying import ResumeResult as ResumeResult
    from turnout.api.deploying import deploy as deploy
    from turnout.api.deploying import resume as resume
    from turnout.api.history_list import HistoryResult as HistoryResult
    from turnout.api.history_list import history as history
    from turnout.api.planning import PlannedStep as PlannedStep
    from turnout.api.planning import PlanResult as PlanResult
    from turnout.api.planning import plan as plan
    from turnout.api.rolling_back import RollbackResult as RollbackResult
    from turnout.api.rolling_back import rollback as rollback
    from turnout.api.status_report import LockView as LockView
    from turnout.api.status_report import OpenPostmortem as OpenPostmortem
    from turnout.api.status_report import SlotView as SlotView
    from turnout.api.status_report import StatusResult as StatusResult
    from turnout.api.status_report import status as status
    from turnout.api.window_verdict import WindowResult as WindowResult
    from turnout.api.window_verdict import window as window
    from turnout.model import DeploymentStatus as DeploymentStatus
    from turnout.model import DeploymentType as DeploymentType

# name -> module that defines it; read by __getattr__ on first use.
_EXPORTS = {
    "AuditCheckResult": "audit_chain",
    "verify_audit": "audit_chain",
    "ConfigSource": "context",
    "acting_user": "context",
    "StatusResult": "status_report",
    "SlotView": "status_report",
    "LockView": "status_report",
    "OpenPostmortem": "status_report",
    "status": "status_report",
    "HistoryResult": "history_list",
    "history": "history_list",
    "WindowResult": "window_verdict",
    "window": "window_verdict",
    "PlanResult": "planning",
    "PlannedStep": "planning",
    "plan": "planning",
    "DeployResult": "deploying",
    "ResumeResult": "deploying",
    "HeldDeployment": "deploying",
    "deploy": "deploying",
    "resume": "deploying",
    "RollbackResult": "rolling_back",
    "rollback": "rolling_back",
    # The model's enums that results and options speak of.
    "DeploymentStatus": "turnout.model",
    "DeploymentType": "turnout.model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'turnout.api' has no attribute {name!r}")
    path = module if module.startswith("turnout.") else f"turnout.api.{module}"
    value = getattr(import_module(path), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value
