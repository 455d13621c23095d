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

SWAP_STEP = "swap"
NEVER_RAN = frozenset({StepStatus.PENDING, StepStatus.SKIPPED})


def swap_moved_traffic(status: StepStatus | str | None, outputs: Mapping[str, Any]) -> bool:
    """Whether the swap with this journal status and outputs moved production's traffic."""
    if status is None or status in NEVER_RAN:
        return False
    if status == StepStatus.SUCCEEDED or outputs.get("swapped_at") is not None:
        return True
    undo = outputs.get("undo")
    if isinstance(undo, Mapping) and isinstance(undo.get("swapped_back"), bool):
        return bool(undo["swapped_back"])
    return True
