"""Compensation: undo a failed deployment's steps in reverse order.

A step that failed, or that a crash cut off, may still have had its effect: its undo
runs too (undo is idempotent and looks before it acts). The first undo that fails stops
compensation; a person must then act, with the journal saying what was undone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from turnout.errors import TurnoutError
from turnout.model import StepStatus
from turnout.runbook.checkpoint import Checkpoint, Moment, Point
from turnout.runbook.journal import MAY_HAVE_ACTED, Journal
from turnout.runbook.outputs import StepOutputs
from turnout.runbook.step import Step
from turnout.runbook.steps import load_step


@dataclass(frozen=True)
class UndoFailure:
    """An undo that raised: which step and what it said."""

    step: str
    error: str

    def __str__(self) -> str:
        return f"{self.step}: {self.error}"


def compensate(
    journal: Journal,
    *,
    keep_lease: Callable[[], None],
    checkpoint: Checkpoint,
    tell: Callable[[Step, StepStatus, str], None],
) -> UndoFailure | None:
    """Undo every undoable step that may have acted, newest first; the failure, if any.

    `keep_lease` runs before each undo (it stops compensation if the lease was taken);
    `tell` reports each transition with a message for people.
    """
    ctx = journal.ctx
    for entry in reversed(journal.entries()):
        if entry.status not in MAY_HAVE_ACTED:
            continue
        step = load_step(entry.name)
        if not step.undoable:
            continue
        keep_lease()
        journal.record(step.name, StepStatus.UNDOING)
        tell(step, StepStatus.UNDOING, "")
        checkpoint(Point(Moment.UNDO, step.name))
        try:
            outputs = {**ctx.outputs.get(step.name, {}), "undo": journaled(step.undo(ctx))}
        except Exception as exc:  # an undo that fails needs a person
            failure = UndoFailure(step.name, error_text(exc))
            journal.record(step.name, StepStatus.UNDO_FAILED, error=failure.error)
            tell(step, StepStatus.UNDO_FAILED, failure.error)
            return failure
        journal.record(step.name, StepStatus.UNDONE, outputs=outputs)
        tell(step, StepStatus.UNDONE, "")
    return None


def journaled(outputs: dict[str, Any] | StepOutputs) -> dict[str, Any]:
    """The JSON object the journal keeps of a step's outputs (its record's, or the object)."""
    return outputs.journal() if isinstance(outputs, StepOutputs) else dict(outputs)


def error_text(exc: BaseException) -> str:
    """An error as one line for the journal: a turnout error's message, else its type too."""
    if isinstance(exc, TurnoutError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
