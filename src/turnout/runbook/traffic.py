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
from turnout.runbook.outputs import SwapOutputs

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
