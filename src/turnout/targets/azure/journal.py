"""Handles of Azure's long-running operations, kept in turnout's state store.

A OneDeploy and a slot swap keep running in Azure when turnout dies. Their handle
(the deployment status URL; the swap's continuation token, which holds its polling
URL) is written before turnout starts waiting, so the next process — `resume`,
`rollback`, `status` — asks Azure what became of the operation instead of starting a
second one. The records live next to the deployment journal (same SQLite file or
PostgreSQL database) under `azure-operation:<environment>:<kind>`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from turnout.store import Store

OperationKind = Literal["swap", "deploy"]


@dataclass(frozen=True)
class OperationHandle:
    """One operation Azure may still be running."""

    kind: OperationKind
    slot: str
    started_at: float
    handle: str
    """Swap: the SDK's continuation token. Deploy: Kudu's deployment status URL."""
    polling_url: str = ""
    """Where Azure reports progress (for people and logs)."""
    detail: dict[str, Any] = field(default_factory=dict)
    """Swap: versions before it. Deploy: the version being deployed."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OperationHandle:
        """Inverse of to_dict."""
        kind: OperationKind = "swap" if data["kind"] == "swap" else "deploy"
        return cls(
            kind=kind,
            slot=str(data["slot"]),
            started_at=float(data["started_at"]),
            handle=str(data["handle"]),
            polling_url=str(data.get("polling_url", "")),
            detail=dict(data.get("detail", {})),
        )


class OperationJournal:
    """Pending operations of one environment, in the state store."""

    def __init__(self, environment: str, open_store: Callable[[], Store]) -> None:
        self.environment = environment
        self._open_store = open_store
        self._store: Store | None = None

    def _key(self, kind: OperationKind) -> str:
        return f"azure-operation:{self.environment}:{kind}"

    @property
    def store(self) -> Store:
        """The state store, opened on first use."""
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def record(self, operation: OperationHandle) -> None:
        """Write the handle (committed before turnout waits on the operation)."""
        self.store.put(self._key(operation.kind), {"pending": operation.to_dict()})

    def pending(self, kind: OperationKind) -> OperationHandle | None:
        """The operation of this kind that was started and not seen to end."""
        data = self.store.get(self._key(kind))
        if not data or not data.get("pending"):
            return None
        return OperationHandle.from_dict(data["pending"])

    def finish(self, operation: OperationHandle, outcome: str) -> None:
        """Mark the operation ended; the last outcome stays for people to read."""
        self.store.put(
            self._key(operation.kind),
            {"pending": None, "last": operation.to_dict(), "outcome": outcome},
        )

    def close(self) -> None:
        """Release the store's connections."""
        if self._store is not None:
            self._store.close()
            self._store = None
