"""A deployment's journal: every transition of every step, committed before the next action.

The journal is what `resume` reads after a crash; the step context mirrors it (statuses,
outputs) for the steps of the running process.
"""

from __future__ import annotations

from typing import Any

from turnout.model import DeploymentStatus, StepStatus
from turnout.runbook.step import OPERATION, UNDO_OPERATION, StepContext
from turnout.store import Store
from turnout.store.records import StepRecord
from turnout.targets.protocol import Operation

DONE = frozenset({StepStatus.SUCCEEDED, StepStatus.SKIPPED})
"""A step in one of these states has its effect in place."""

CUT_OFF = frozenset({DeploymentStatus.RUNNING, DeploymentStatus.COMPENSATING})
"""A deployment in one of these states whose process is gone was cut off mid-way."""

MAY_HAVE_ACTED = DONE | {StepStatus.UNDOING, StepStatus.FAILED, StepStatus.RUNNING}
"""A step in one of these states may have had its effect (compensation undoes it)."""


class Journal:
    """One deployment's journal, mirrored in its step context."""

    def __init__(self, store: Store, ctx: StepContext) -> None:
        self.store = store
        self.ctx = ctx
        self.deployment_id = ctx.deployment.id

    def entries(self) -> list[StepRecord]:
        """The plan's steps in order, as committed."""
        return self.store.steps(self.deployment_id)

    def record(
        self,
        step: str,
        status: StepStatus,
        *,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Commit one transition; steps of this process see it at once."""
        self.store.record_step(self.deployment_id, step, status, outputs=outputs, error=error)
        self.ctx.statuses[step] = status
        if outputs is not None and status in DONE | {StepStatus.UNDONE}:
            self.ctx.outputs[step] = outputs

    def keep_operation(self, step: str, key: str, operation: Operation) -> None:
        """Commit the handle of a deploy or swap a step began (its status unchanged), before
        the step waits on it: a later process follows it instead of starting it again."""
        outputs = {**self.ctx.outputs.get(step, {}), key: operation.to_dict()}
        status = self.ctx.statuses.get(step, StepStatus.RUNNING)
        self.store.record_step(self.deployment_id, step, status, outputs=outputs)


def load_operations(ctx: StepContext, entries: list[StepRecord]) -> None:
    """The handles of operations steps began and the journal kept, into the context (a step
    that was cut off or failed; an undo that was cut off)."""
    ctx.operations.update(pending_operations(entries))


def pending_operations(entries: list[StepRecord]) -> dict[str, Operation]:
    """The handles the journal kept of operations that may not have ended, by step (an
    undo's as `STEP:undo`): a step cut off or failed after it began one, an undo cut off."""
    found: dict[str, Operation] = {}
    for entry in entries:
        outputs = entry.outputs or {}
        began = entry.status in {StepStatus.RUNNING, StepStatus.FAILED}
        if began and isinstance(outputs.get(OPERATION), dict):
            found[entry.name] = Operation.from_dict(outputs[OPERATION])
        undoing = entry.status is StepStatus.UNDOING
        if undoing and isinstance(outputs.get(UNDO_OPERATION), dict):
            found[f"{entry.name}:undo"] = Operation.from_dict(outputs[UNDO_OPERATION])
    return found
