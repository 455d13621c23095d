"""Where the canary's record of a deployment is kept: the state store, under one key per
deployment, written before every change of share (so it says what may be routed after a
crash). The canary step writes it; status, the announcements and the database phase read it."""

from __future__ import annotations

from typing import TYPE_CHECKING

# The step outputs records are imported when there is a record to read: `status` of a
# deployment without a canary asks the store and stops there.
if TYPE_CHECKING:
    from turnout.runbook.outputs import CanaryOutputs
    from turnout.store import Store


def record_key(environment: str, deployment_id: int | str) -> str:
    """The state store's key of the canary's record of a deployment."""
    return f"canary:{environment}:{deployment_id}"


def stored_record(store: Store, environment: str, deployment_id: int | str) -> CanaryOutputs | None:
    """The canary's latest record for a deployment (None when it never started)."""
    raw = store.get(record_key(environment, deployment_id))
    if raw is None:
        return None
    from turnout.runbook.outputs import CanaryOutputs

    return CanaryOutputs.from_journal(raw)


def keep_record(
    store: Store, environment: str, deployment_id: int | str, record: CanaryOutputs
) -> None:
    """Write the canary's record (replacing the one before)."""
    store.put(record_key(environment, deployment_id), record.journal())
