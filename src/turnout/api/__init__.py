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
    from turnout.api.audit_listing import AuditShowResult as AuditShowResult
    from turnout.api.audit_listing import show_audit as show_audit
    from turnout.api.context import ConfigSource as ConfigSource
    from turnout.api.context import acting_user as acting_user
    from turnout.api.database_access import database as database
    from turnout.api.decisions import AcceptResult as AcceptResult
    from turnout.api.decisions import ApprovalResult as ApprovalResult
    from turnout.api.decisions import AttestationResult as AttestationResult
    from turnout.api.decisions import accept as accept
    from turnout.api.decisions import approve as approve
    from turnout.api.decisions import attest as attest
    from turnout.api.deploying import DeployResult as DeployResult
    from turnout.api.deploying import HeldDeployment as HeldDeployment
    from turnout.api.deploying import ResumeResult as ResumeResult
    from turnout.api.deploying import deploy as deploy
    from turnout.api.deploying import resume as resume
    from turnout.api.doctor_probes import DoctorResult as DoctorResult
    from turnout.api.doctor_probes import Probe as Probe
    from turnout.api.doctor_probes import doctor as doctor
    from turnout.api.history_list import HistoryResult as HistoryResult
    from turnout.api.history_list import history as history
    from turnout.api.incident_records import Incident as Incident
    from turnout.api.incident_records import IncidentClosed as IncidentClosed
    from turnout.api.incident_records import IncidentList as IncidentList
    from turnout.api.incident_records import IncidentOpened as IncidentOpened
    from turnout.api.incident_records import close_incident as close_incident
    from turnout.api.incident_records import incidents as incidents
    from turnout.api.incident_records import open_incident as open_incident
    from turnout.api.planning import PlannedStep as PlannedStep
    from turnout.api.planning import PlanResult as PlanResult
    from turnout.api.planning import plan as plan
    from turnout.api.postmortem_records import Postmortem as Postmortem
    from turnout.api.postmortem_records import PostmortemList as PostmortemList
    from turnout.api.postmortem_records import close_postmortem as close_postmortem
    from turnout.api.postmortem_records import postmortems as postmortems
    from turnout.api.project_setup import CheckResult as CheckResult
    from turnout.api.project_setup import ConfigProblem as ConfigProblem
    from turnout.api.project_setup import InitResult as InitResult
    from turnout.api.project_setup import check as check
    from turnout.api.project_setup import init as init
    from turnout.api.report_figures import DoraMeasures as DoraMeasures
    from turnout.api.report_figures import EnvironmentReport as EnvironmentReport
    from turnout.api.report_figures import ReportResult as ReportResult
    from turnout.api.report_figures import SuccessMetrics as SuccessMetrics
    from turnout.api.report_figures import report as report
    from turnout.api.report_figures import write_page as write_page
    from turnout.api.rolling_back import RollbackResult as RollbackResult
    from turnout.api.rolling_back import rollback as rollback
    from turnout.api.slot_host import HostResult as HostResult
    from turnout.api.slot_host import HostStopped as HostStopped
    from turnout.api.slot_host import host_down as host_down
    from turnout.api.slot_host import host_metrics as host_metrics
    from turnout.api.slot_host import host_status as host_status
    from turnout.api.slot_host import host_up as host_up
    from turnout.api.status_report import LockView as LockView
    from turnout.api.status_report import OpenPostmortem as OpenPostmortem
    from turnout.api.status_report import SlotView as SlotView
    from turnout.api.status_report import StatusResult as StatusResult
    from turnout.api.status_report import status as status
    from turnout.api.watching import WatchResult as WatchResult
    from turnout.api.watching import watch as watch
    from turnout.api.window_verdict import WindowResult as WindowResult
    from turnout.api.window_verdict import window as window
    from turnout.model import DeploymentStatus as DeploymentStatus
    from turnout.model import DeploymentType as DeploymentType
    from turnout.runbook.database_operations import DatabaseOperations as DatabaseOperations
    from turnout.runbook.engine import StepEvent as StepEvent
    from turnout.runbook.steps.infra_arm import PlannedInfra as PlannedInfra

# name -> module that defines it; read by __getattr__ on first use.
_EXPORTS = {
    "AuditCheckResult": "audit_chain",
    "verify_audit": "audit_chain",
    "AuditShowResult": "audit_listing",
    "show_audit": "audit_listing",
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
    "AcceptResult": "decisions",
    "ApprovalResult": "decisions",
    "AttestationResult": "decisions",
    "accept": "decisions",
    "approve": "decisions",
    "attest": "decisions",
    "WatchResult": "watching",
    "watch": "watching",
    "DoctorResult": "doctor_probes",
    "Probe": "doctor_probes",
    "doctor": "doctor_probes",
    "ReportResult": "report_figures",
    "EnvironmentReport": "report_figures",
    "SuccessMetrics": "report_figures",
    "DoraMeasures": "report_figures",
    "report": "report_figures",
    "write_page": "report_figures",
    "Incident": "incident_records",
    "IncidentList": "incident_records",
    "IncidentOpened": "incident_records",
    "IncidentClosed": "incident_records",
    "open_incident": "incident_records",
    "close_incident": "incident_records",
    "incidents": "incident_records",
    "Postmortem": "postmortem_records",
    "PostmortemList": "postmortem_records",
    "postmortems": "postmortem_records",
    "close_postmortem": "postmortem_records",
    "HostResult": "slot_host",
    "HostStopped": "slot_host",
    "host_up": "slot_host",
    "host_down": "slot_host",
    "host_status": "slot_host",
    "host_metrics": "slot_host",
    "database": "database_access",
    "InitResult": "project_setup",
    "CheckResult": "project_setup",
    "ConfigProblem": "project_setup",
    "init": "project_setup",
    "check": "project_setup",
    # Types that results, options and callbacks speak of.
    "DeploymentStatus": "turnout.model",
    "DeploymentType": "turnout.model",
    "StepEvent": "turnout.runbook.engine",
    "DatabaseOperations": "turnout.runbook.database_operations",
    "PlannedInfra": "turnout.runbook.steps.infra_arm",
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
