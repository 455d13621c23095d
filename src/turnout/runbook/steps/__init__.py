"""Every runbook step, one module per phase, looked up by name."""

from __future__ import annotations

import importlib

from turnout.errors import NotSupported
from turnout.runbook.step import Step

# name -> "module:Class". Imported lazily so a command only loads what it runs.
STEPS: dict[str, str] = {
    "preflight": "turnout.runbook.steps.preflight:PreflightStep",
    "checklist": "turnout.runbook.steps.checklist:ChecklistStep",
    "window": "turnout.runbook.steps.window:WindowStep",
    "approval": "turnout.runbook.steps.approval:ApprovalStep",
    "announce": "turnout.runbook.steps.announce:AnnounceStartStep",
    "track": "turnout.runbook.steps.track:TrackStep",
    "preconditions": "turnout.runbook.steps.preconditions:PreconditionsStep",
    "snapshot": "turnout.runbook.steps.snapshot:SnapshotStep",
    "infra": "turnout.runbook.steps.infra:InfraStep",
    "stage": "turnout.runbook.steps.stage:StageStep",
    "warmup": "turnout.runbook.steps.warmup:WarmupStep",
    "smoke": "turnout.runbook.steps.smoke:SmokeStep",
    "backup": "turnout.runbook.steps.database:BackupStep",
    "migrate": "turnout.runbook.steps.database:MigrateStep",
    "verify-db": "turnout.runbook.steps.database:VerifyDatabaseStep",
    "probe": "turnout.runbook.steps.probe:ProbeStep",
    "canary": "turnout.runbook.steps.canary:CanaryPhaseStep",
    "swap": "turnout.runbook.steps.swap:SwapStep",
    "verify": "turnout.runbook.steps.verify:VerifyStep",
    "announce-success": "turnout.runbook.steps.announce:AnnounceSuccessStep",
    "tag": "turnout.runbook.steps.release_record:TagStep",
    "log": "turnout.runbook.steps.release_record:LogStep",
    "close": "turnout.runbook.steps.track:CloseStep",
}


def load_step(name: str) -> Step:
    """An instance of the named step."""
    try:
        module_name, class_name = STEPS[name].split(":")
    except KeyError:
        raise NotSupported(f"no step named {name!r}") from None
    module = importlib.import_module(module_name)
    cls: type[Step] = getattr(module, class_name)
    return cls()
