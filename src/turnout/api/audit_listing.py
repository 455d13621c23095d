"""`audit show`: the decisions of a deployment (or an environment): who, what, and what
each signature proves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from turnout.api.audit_chain import check_signed_entry
from turnout.api.context import ConfigSource, load, open_store


@dataclass(frozen=True)
class AuditLine:
    """One audit entry as people read it."""

    row: int
    at: str
    actor: str
    action: str
    environment: str | None
    deployment: int | None
    what: str
    """The entry's gist: why, who met which requirement, the role approved in …"""
    signature: str | None
    """None (the entry holds no signature), "signed", "unknown-key" or "bad-signature"."""
    key: str | None
    problem: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "row": self.row,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "environment": self.environment,
            "deployment": self.deployment,
            "what": self.what,
            "signature": self.signature,
            "key": self.key,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class AuditShowResult:
    """The entries asked for, oldest first."""

    lines: tuple[AuditLine, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout audit show --json` prints)."""
        return {"entries": [line.to_dict() for line in self.lines]}


def _gist(action: str, details: dict[str, Any]) -> str:
    """A short account of what an entry records."""
    met = details.get("met")
    if isinstance(met, dict) and met:
        return "; ".join(
            f"{why}: {m.get('approver')} ({m.get('signature', 'unsigned')})"
            for why, m in met.items()
            if isinstance(m, dict)
        )
    for key in ("why", "summary", "message", "reason", "comment"):
        value = details.get(key)
        if isinstance(value, str) and value:
            return value
    if action == "approval.recorded" and details.get("role"):
        return f"as {details['role']}"
    return ""


def show_audit(
    *,
    deployment: int | None = None,
    env: str | None = None,
    limit: int = 1000,
    config: ConfigSource = None,
) -> AuditShowResult:
    """The newest `limit` decisions of a deployment or an environment (or all), with each
    signature checked against today's configuration. Changes nothing."""
    loaded = load(config)
    if env is not None:
        loaded.env(env)  # an unknown environment is bad input
    with open_store(loaded, read_only=True) as store:
        entries = store.audit_log(environment=env, deployment_id=deployment, limit=limit)
    lines = []
    for entry in entries:
        signed = check_signed_entry(entry, loaded.root.people)
        lines.append(
            AuditLine(
                row=entry.id,
                at=entry.at.isoformat(timespec="seconds"),
                actor=entry.actor,
                action=entry.action,
                environment=entry.environment,
                deployment=entry.deployment_id,
                what=_gist(entry.action, entry.details),
                signature=None if signed is None else signed.signature,
                key=None if signed is None else signed.key,
                problem=None if signed is None else signed.problem,
            )
        )
    return AuditShowResult(tuple(lines))
