"""`audit verify`: check the audit log's hash chain end to end, its anchors in the app's
repository, and the signatures it holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from turnout.api.context import ConfigSource, load, open_store
from turnout.errors import AuditChainBroken

if TYPE_CHECKING:
    from turnout.config.people import Person
    from turnout.integrations.audit_anchors import Anchor
    from turnout.store.records import AuditEntry


@dataclass(frozen=True)
class AnchorCheck:
    """One anchor of the chain's head found in the repository, and whether the store agrees."""

    source: str
    row: int
    digest: str
    problem: str | None
    """Why the store does not match it (None: it does)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "row": self.row,
            "hash": self.digest,
            "ok": self.problem is None,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class SignedEntry:
    """An audit entry holding a signed statement, and what its signature proves today."""

    row: int
    actor: str
    action: str
    signature: str
    """"signed" (verifies with the actor's configured key), "unknown-key" (the signature
    holds but its key is nobody's in the configuration now: revoked) or "bad-signature"."""
    key: str | None
    problem: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "row": self.row,
            "actor": self.actor,
            "action": self.action,
            "signature": self.signature,
            "key": self.key,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class AuditCheckResult:
    """An intact audit log: how many entries, the newest hash, the anchors and signatures."""

    entries: int
    last_hash: str
    anchors: tuple[AnchorCheck, ...] = ()
    signed: tuple[SignedEntry, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout audit verify --json` prints)."""
        return {
            "intact": True,
            "entries": self.entries,
            "last_hash": self.last_hash,
            "anchors": [a.to_dict() for a in self.anchors],
            "signed": [s.to_dict() for s in self.signed],
        }


def check_anchor(anchor: Anchor, hashes: dict[int, str]) -> AnchorCheck:
    """Whether the store still holds the row an anchor names, with the anchored hash."""
    found = hashes.get(anchor.row)
    problem = None
    if found is None:
        last = max(hashes, default=0)
        if anchor.row > last:
            ends = f"ends at row {last}" if last else "is empty"
            problem = (
                f"{anchor.source} anchors audit row {anchor.row}, but the log {ends}:"
                f" rows up to {anchor.row} were deleted"
            )
        else:
            problem = f"{anchor.source} anchors audit row {anchor.row}, which was deleted"
    elif not found.startswith(anchor.digest):
        problem = (
            f"{anchor.source} anchors audit row {anchor.row} with hash {anchor.digest[:16]},"
            f" the store's row {anchor.row} has {found[:16]}: the log was rewritten"
        )
    return AnchorCheck(anchor.source, anchor.row, anchor.digest, problem)


def check_signed_entry(entry: AuditEntry, people: list[Person]) -> SignedEntry | None:
    """What the signature an entry holds proves (None: the entry holds none)."""
    from turnout.config.people import find_person
    from turnout.policy.signed_approvals import verify_statement

    statement, signature = entry.details.get("statement"), entry.details.get("signature")
    if not isinstance(statement, str) or not isinstance(signature, str):
        return None
    person = find_person(people, entry.actor)
    if person is None:
        why = f"{entry.actor} is no longer in `people`: nothing to check the key against"
        return SignedEntry(entry.id, entry.actor, entry.action, "unknown-key", None, why)
    proof, _ = verify_statement(statement, signature, person, people, decision=None)
    kind = "signed" if proof.valid else ("unknown-key" if proof.unknown_key else "bad-signature")
    return SignedEntry(entry.id, entry.actor, entry.action, kind, proof.fingerprint, proof.problem)


def verify_audit(*, config: ConfigSource = None) -> AuditCheckResult:
    """Check that every audit entry follows the one before and matches its own hash, that
    every anchor in the app's repository (deployments.log lines, release tags) names a row
    the store holds with that hash, and that every signed statement in the log verifies.

    Raises AuditChainBroken (exit 5) naming the first problem: an entry changed after it
    was written, one deleted, newest rows deleted or the chain rewritten (against an
    anchor), or a signature that does not verify. Changes nothing."""
    from turnout.integrations.audit_anchors import repository_anchors

    loaded = load(config)
    with open_store(loaded, read_only=True) as store:
        check = store.check_audit_chain()
        hashes = store.audit_hashes() if check.broken is None else {}
        entries = store.audit_log(limit=len(hashes) + 1) if check.broken is None else []
    if check.broken is not None:
        before = (
            "the entry before it verifies"
            if check.rows == 1
            else (f"the {check.rows} entries before it verify" if check.rows else "it is the first")
        )
        raise AuditChainBroken(
            f"audit log broken: {check.broken.describe()}; {before}", details=check.to_dict()
        )
    anchors = tuple(check_anchor(a, hashes) for a in repository_anchors(loaded))
    signed = tuple(
        found
        for found in (check_signed_entry(e, loaded.root.people) for e in entries)
        if found is not None
    )
    result = AuditCheckResult(check.rows, check.last_hash, anchors, signed)
    details = {**result.to_dict(), "intact": False}
    bad_anchor = next((a for a in anchors if a.problem is not None), None)
    if bad_anchor is not None:
        raise AuditChainBroken(f"audit log broken: {bad_anchor.problem}", details=details)
    bad_signature = next((s for s in signed if s.signature == "bad-signature"), None)
    if bad_signature is not None:
        raise AuditChainBroken(
            f"audit log broken: row {bad_signature.row} ({bad_signature.action} by"
            f" {bad_signature.actor}) holds a signature that does not verify:"
            f" {bad_signature.problem}",
            details=details,
        )
    return result
