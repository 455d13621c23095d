"""`audit verify`: check the audit log's hash chain end to end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from turnout.api.context import ConfigSource, load, open_store
from turnout.errors import AuditChainBroken


@dataclass(frozen=True)
class AuditCheckResult:
    """An intact audit log: how many entries were checked and the hash of the newest."""

    entries: int
    last_hash: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout audit verify --json` prints)."""
        return {"intact": True, "entries": self.entries, "last_hash": self.last_hash}


def verify_audit(*, config: ConfigSource = None) -> AuditCheckResult:
    """Check that every audit entry follows the one before and matches its own hash.

    Raises AuditChainBroken (exit 5) naming the first entry where the chain breaks: an
    entry changed after it was written, or one deleted before it. Changes nothing."""
    loaded = load(config)
    with open_store(loaded, read_only=True) as store:
        check = store.check_audit_chain()
    if check.broken is not None:
        before = (
            "the entry before it verifies"
            if check.rows == 1
            else (f"the {check.rows} entries before it verify" if check.rows else "it is the first")
        )
        raise AuditChainBroken(
            f"audit log broken: {check.broken.describe()}; {before}", details=check.to_dict()
        )
    return AuditCheckResult(check.rows, check.last_hash)
