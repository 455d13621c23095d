"""Approvals: who must approve a deployment, who may, and whether it has been approved.

Rules (runbook "Required Access" and "Emergency Deployment"):
- production needs one approval from `senior-engineer` (`policy.approvals.required_roles`);
- a deployment in an avoid window (--outside-window) needs one from
  `outside_window_roles` (default: the required roles, else senior-engineer); when the
  roles are the same, one approval covers both;
- an emergency needs one from `emergency_roles` (vp-engineering or director) instead;
- nobody approves their own deployment; an approval counts only while its approver
  is still in the configuration with a role that the requirement accepts;
- where `policy.approvals.signed` (production by default), an approval counts only when
  signed with the approver's configured key over this deployment's release; anywhere, a
  signature that does not verify makes its approval count for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from turnout.config.people import Person, find_person
from turnout.errors import BadInput, Refused
from turnout.policy.flags import DeploymentFlags, is_production
from turnout.policy.signed_approvals import (
    ApprovalProof,
    prove,
    prove_approval,
    release_subject,
    signatures_required,
)
from turnout.signatures.statement import ReleaseSubject, Statement
from turnout.store.records import AuditAction

if TYPE_CHECKING:
    from pathlib import Path

    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.store import Store
    from turnout.store.records import ApprovalRecord, DeploymentRecord

SENIOR = "senior-engineer"


@dataclass(frozen=True)
class Requirement:
    """One approval needed from anyone holding one of `roles`."""

    why: str
    """"environment", "outside-window", "environment+outside-window" or "emergency"."""
    roles: tuple[str, ...]

    def describe(self) -> str:
        """E.g. "one approval from senior-engineer (production)"."""
        return f"one approval from {' or '.join(self.roles)} ({self.why})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"why": self.why, "roles": list(self.roles)}


def base_roles(env: EnvironmentConfig) -> list[str]:
    """Roles of the environment's normal approval (runbook default in production)."""
    roles = env.policy.approvals.required_roles
    if roles is None:
        return [SENIOR] if is_production(env) else []
    return list(roles)


def outside_window_roles(env: EnvironmentConfig) -> list[str]:
    """Roles that may approve deploying in an avoid window."""
    roles = env.policy.approvals.outside_window_roles
    if roles:
        return list(roles)
    return base_roles(env) or [SENIOR]


def requirements(
    env: EnvironmentConfig, *, emergency: bool, outside_window: bool
) -> list[Requirement]:
    """What a deployment needs, given how it was asked for and whether it uses an override."""
    if emergency:
        return [Requirement("emergency", tuple(env.policy.approvals.emergency_roles))]
    base = base_roles(env)
    needed: list[Requirement] = []
    if outside_window:
        outside = outside_window_roles(env)
        if base and set(outside) == set(base):
            return [Requirement("environment+outside-window", tuple(base))]
        needed.append(Requirement("outside-window", tuple(outside)))
    if base:
        needed.insert(0, Requirement("environment", tuple(base)))
    return needed


def is_deployer(person: Person | None, name: str, deployer: str) -> bool:
    """Whether the approver `name` (the person, when known) is the deployer."""
    if name.strip().lower() == deployer.strip().lower():
        return True
    return bool(person is not None and person.answers_to(deployer))


def eligible(config: LoadedConfig, roles: tuple[str, ...], deployer: str) -> list[str]:
    """Names of the people who may give an approval with one of these roles."""
    return [
        p.name
        for p in config.root.people
        if set(p.roles) & set(roles) and not is_deployer(p, p.name, deployer)
    ]


@dataclass
class ApprovalStatus:
    """Which requirements are met, by which approval, and what is still missing."""

    deployment_id: int | None
    requirements: list[Requirement]
    met: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[Requirement] = field(default_factory=list)
    ignored: list[dict[str, Any]] = field(default_factory=list)
    """Recorded approvals that do not count, with the reason."""
    may_approve: dict[str, list[str]] = field(default_factory=dict)
    deployer_only: set[str] = field(default_factory=set)
    """Requirements whose role only the deployer holds."""
    signed_required: bool = False
    """Whether only signed approvals count here (`policy.approvals.signed`)."""

    @property
    def ok(self) -> bool:
        """Whether every requirement is met."""
        return not self.missing

    def waiting_message(self, environment: str) -> str:
        """The refusal text: what is missing, who may approve, how."""
        parts = []
        for req in self.missing:
            names = self.may_approve.get(req.why) or []
            roles = " or ".join(req.roles)
            if names:
                who = f"may approve: {', '.join(names)}"
            elif req.why in self.deployer_only:
                who = f"only the deployer has role {roles}: add another person with it"
            else:
                who = f"nobody in `people` has role {roles}: add one to turnout.toml"
            parts.append(f"{req.describe()}; {who}")
        ref = self.deployment_id if self.deployment_id is not None else "ID"
        how = f"turnout approve {ref} --as NAME"
        if self.signed_required:
            how += " --key YOUR_SSH_KEY (signed approvals only)"
        ignored = "".join(
            f"; not counted: {i['approver']}'s approval ({i['why']})" for i in self.ignored
        )
        return (
            f"deployment {ref} to {environment} waits for approval: {'; '.join(parts)}"
            f"{ignored} ({how}, then turnout resume)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "requirements": [r.to_dict() for r in self.requirements],
            "met": self.met,
            "missing": [r.to_dict() for r in self.missing],
            "ignored": self.ignored,
            "may_approve": self.may_approve,
            "deployer_only": sorted(self.deployer_only),
            "signed_required": self.signed_required,
        }


def approval_status(
    config: LoadedConfig,
    env: EnvironmentConfig,
    approvals: list[ApprovalRecord],
    flags: DeploymentFlags,
    *,
    deployment_id: int | None,
    outside_window: bool,
    subject: ReleaseSubject | None = None,
) -> ApprovalStatus:
    """Match recorded approvals against the requirements, re-checking every approver and
    every signature (against `subject`, the deployment's release as it is now)."""
    needed = requirements(env, emergency=flags.emergency, outside_window=outside_window)
    signed_only = signatures_required(env)
    status = ApprovalStatus(
        deployment_id=deployment_id, requirements=needed, signed_required=signed_only
    )
    valid: list[tuple[ApprovalRecord, Person, ApprovalProof]] = []
    for row in approvals:
        person = find_person(config.root.people, row.approver)
        if person is None:
            status.ignored.append(_ignored(row, "approver is no longer in `people`"))
            continue
        if is_deployer(person, row.approver, flags.deployer):
            status.ignored.append(_ignored(row, "nobody approves their own deployment"))
            continue
        proof = prove_approval(row, person, config.root.people, subject)
        if proof.signed and not proof.valid:
            status.ignored.append(_ignored(row, f"bad signature: {proof.problem}", proof))
        elif signed_only and not proof.signed:
            status.ignored.append(
                _ignored(
                    row,
                    f"unsigned, and {env.name} counts only signed approvals"
                    " (policy.approvals.signed)",
                    proof,
                )
            )
        else:
            valid.append((row, person, proof))
    for req in needed:
        status.may_approve[req.why] = eligible(config, req.roles, flags.deployer)
        if not status.may_approve[req.why] and any(
            set(p.roles) & set(req.roles) for p in config.root.people
        ):
            status.deployer_only.add(req.why)
        match = next(((r, p, f) for r, p, f in valid if set(p.roles) & set(req.roles)), None)
        if match is None:
            status.missing.append(req)
        else:
            row, person, proof = match
            status.met[req.why] = {
                "approver": person.name,
                "role": sorted(set(person.roles) & set(req.roles))[0],
                "at": row.created_at.isoformat(),
                "comment": row.comment,
                **proof.to_dict(),
            }
    return status


def _ignored(row: ApprovalRecord, why: str, proof: ApprovalProof | None = None) -> dict[str, Any]:
    found = {"approver": row.approver, "at": row.created_at.isoformat(), "why": why}
    return found | (proof.to_dict() if proof is not None else {})


def record_approval(
    config: LoadedConfig,
    store: Store,
    deployment_id: int,
    who: str,
    comment: str | None = None,
    *,
    signing_key: Path | None = None,
) -> ApprovalRecord:
    """Record `who`'s approval of a deployment, or refuse (audited either way).

    With `signing_key` (required where only signed approvals count) the approval is a
    statement signed with that key, checked against `who`'s configured keys before it is
    recorded: `who` only says whose key it must be.

    Unknown deployment or person, no key where one is needed, a key that cannot sign:
    BadInput (exit 2). Finished deployment, own deployment, no role the deployment needs,
    or a signature that is not `who`'s: Refused (exit 3).
    """
    row = store.deployment(deployment_id)
    if row is None:
        raise BadInput(f"no deployment {deployment_id}")
    env = config.env(row.environment)
    person = find_person(config.root.people, who)

    def refuse(error: type[BadInput] | type[Refused], message: str) -> NoReturn:
        store.audit(
            who,
            AuditAction.APPROVAL_REFUSED,
            environment=row.environment,
            deployment_id=deployment_id,
            why=message,
            comment=comment,
        )
        raise error(message)

    if person is None:
        known = ", ".join(p.name for p in config.root.people) or "none"
        refuse(BadInput, f"{who} is not in `people` of {config.path} (known: {known})")
    if _finished(row):
        refuse(Refused, f"deployment {deployment_id} has already ended ({row.status})")
    if is_deployer(person, who, row.deployer):
        refuse(
            Refused,
            f"{person.name} deployed {deployment_id} and nobody approves their own deployment",
        )
    needed = requirements(
        env, emergency=bool(row.emergency), outside_window=row.data.outside_window
    )
    accepted = {role for req in needed for role in req.roles}
    roles = sorted(set(person.roles) & accepted)
    if needed and not roles:
        wanted = "; ".join(
            f"{r.describe()} (may approve: {', '.join(eligible(config, r.roles, row.deployer))})"
            for r in needed
        )
        refuse(
            Refused,
            f"{person.name} (roles: {', '.join(person.roles) or 'none'}) cannot approve"
            f" deployment {deployment_id}: it needs {wanted}",
        )
    signed_only = signatures_required(env)
    if signed_only and signing_key is None:
        refuse(
            BadInput,
            f"{row.environment} counts only signed approvals (policy.approvals.signed):"
            f" give --key with {person.name}'s SSH key (a private key file, or the public"
            " one of a key in ssh-agent), or set TURNOUT_SIGNING_KEY",
        )
    if signed_only and not person.ssh_keys:
        refuse(
            Refused,
            f"{person.name} has no `ssh_keys` in `people` of {config.path}: a signed approval"
            " needs the approver's public key in the configuration",
        )
    for existing in store.approvals(deployment_id):
        if find_person(config.root.people, existing.approver) == person and (
            signing_key is None or existing.signature
        ):
            return existing
    role = roles[0] if roles else (person.roles[0] if person.roles else None)
    statement_text: str | None = None
    signature: str | None = None
    if signing_key is not None:
        from turnout.signatures.sshsig import sign

        subject = release_subject(config, row)
        statement = Statement.approval(subject, person.name, tuple(roles), store.now(), comment)
        statement_text = statement.canonical().decode("ascii")
        try:
            signature = sign(statement.canonical(), signing_key)
        except BadInput as exc:
            refuse(BadInput, exc.message)
        proof = prove(statement_text, signature, person, config.root.people, subject)
        if not proof.valid:
            refuse(Refused, f"approval of deployment {deployment_id} not recorded: {proof.problem}")
    approval = store.add_approval(
        deployment_id,
        person.name,
        role,
        comment,
        statement=statement_text,
        signature=signature,
    )
    store.audit(
        person.name,
        AuditAction.APPROVAL_RECORDED,
        environment=row.environment,
        deployment_id=deployment_id,
        role=role,
        comment=comment,
        emergency=bool(row.emergency),
        outside_window=row.data.outside_window,
        requirements=[r.to_dict() for r in needed],
        statement=statement_text,
        signature=signature,
    )
    return approval


def _finished(row: DeploymentRecord) -> bool:
    return row.status.finished
