"""Whether a deployment's swap moved production's traffic, read from its journal entry.

One rule for every reader (the announcement, the deploy command's message, status's
"what happened", the database's restore decision): a swap that never ran moved nothing; a
swap that completed moved traffic; a swap that failed, even after it started, moved
traffic only if its undo had to swap back. A failed swap whose undo has not run yet
counts as moved: not knowing means assuming production changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from turnout.model import StepStatus
from turnout.runbook.outputs import CanaryOutputs, SwapOutputs

SWAP_STEP = SwapOutputs.step
NEVER_RAN = frozenset({StepStatus.PENDING, StepStatus.SKIPPED})


def swap_moved_traffic(status: StepStatus | str | None, swap: SwapOutputs | None) -> bool:
    """Whether the swap with this journal status and outputs record moved production's
    traffic."""
    if status is None or status in NEVER_RAN:
        return False
    outputs = swap if swap is not None else SwapOutputs()
    if status == StepStatus.SUCCEEDED or outputs.swapped_at is not None:
        return True
    if outputs.undo is not None and outputs.undo.swapped_back is not None:
        return outputs.undo.swapped_back
    return True


def journaled_swap_moved_traffic(
    status: StepStatus | str | None, outputs: Mapping[str, Any] | None
) -> bool:
    """The same rule, for a swap's outputs as the journal keeps them (a JSON object)."""
    return swap_moved_traffic(status, SwapOutputs.from_journal(outputs or {}))


CANARY_STEP = CanaryOutputs.step


def canary_exposure(outputs: Mapping[str, Any] | None) -> CanaryOutputs | None:
    """The canary's record in its journaled outputs (as run, failed with its evidence, or
    undone), when the new version served any user request during it; else None."""
    if not outputs:
        return None
    for candidate in (outputs, outputs.get("evidence"), outputs.get("undo")):
        if isinstance(candidate, Mapping):
            record = CanaryOutputs.from_journal(candidate)
            if record is not None and record.exposed:
                return record
    return None


def journaled_canary_exposure(steps: Any) -> CanaryOutputs | None:
    """The same, from a deployment document's journal (its list of steps)."""
    for step in steps or []:
        if isinstance(step, Mapping) and step.get("step") == CANARY_STEP:
            outputs = step.get("outputs")
            return canary_exposure(outputs if isinstance(outputs, Mapping) else None)
    return None
