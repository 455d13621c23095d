"""Whether an approval proves who gave it: its statement is about this deployment as it is
now, and its SSH signature was made with a key the approver holds in the configuration.

Checked every time a gate runs, not only when the approval is recorded: a row written
straight into the store, a statement edited afterwards, a key removed from the
configuration or a release package changed since all make the approval count for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.errors import TurnoutError
from turnout.policy.flags import is_production
from turnout.signatures import sshsig
from turnout.signatures.statement import ReleaseSubject, Statement, StatementError

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.config.people import Person
    from turnout.model import PlannedDeployment
    from turnout.store.records import ApprovalRecord, DeploymentRecord


def signatures_required(env: EnvironmentConfig) -> bool:
    """`policy.approvals.signed`, by default true in production only."""
    signed = env.policy.approvals.signed
    return is_production(env) if signed is None else signed


def release_commit(config: LoadedConfig) -> str | None:
    """HEAD of the app's repository (what the release tag is made on); None outside git."""
    from turnout.integrations.vcs import git, is_repository

    repo = config.resolve_path(config.root.app.repository)
    try:
        if not is_repository(repo):
            return None
        done = git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    except TurnoutError:
        return None
    return done.stdout.strip() or None


def package_sha256(package: str | None) -> str | None:
    """The release package's content digest; None when it is gone or unreadable."""
    from turnout.targets.local.packages import package_digest

    if not package:
        return None
    try:
        return package_digest(Path(package))
    except TurnoutError:
        return None


def release_subject(config: LoadedConfig, row: DeploymentRecord) -> ReleaseSubject:
    """What an approval of this deployment must be about, read from the release now."""
    return ReleaseSubject(
        deployment=row.id,
        environment=row.environment,
        version=row.version,
        package_sha256=package_sha256(row.package),
        commit=release_commit(config),
        created_at=row.created_at,
    )


@dataclass(frozen=True)
class ApprovalProof:
    """What an approval's signature proves: nothing (unsigned), the approver, or a fault."""

    signed: bool
    valid: bool
    fingerprint: str | None = None
    problem: str | None = None
    unknown_key: bool = False
    """Signed with a key nobody in the configuration holds (now)."""

    @property
    def kind(self) -> str:
        """ "signed", "unsigned" or "bad-signature" (what plan and status show)."""
        if not self.signed:
            return "unsigned"
        return "signed" if self.valid else "bad-signature"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"signature": self.kind, "key": self.fingerprint, "problem": self.problem}


def people_keys(people: list[Person]) -> dict[str, list[str]]:
    """Every person's declared public keys by name (the allowed signers)."""
    return {p.name: list(p.ssh_keys) for p in people if p.ssh_keys}


def verify_statement(
    statement_text: str,
    signature: str,
    person: Person,
    people: list[Person],
    decision: str | None = "approve",
) -> tuple[ApprovalProof, Statement | None]:
    """Check a signed statement on its own: readable, an approval by `person`, signed with
    one of `person`'s configured keys (what it is about is not checked here)."""
    try:
        statement = Statement.parse(statement_text)
    except StatementError as exc:
        return ApprovalProof(True, False, problem=f"its statement is unreadable: {exc}"), None
    if decision is not None and statement.decision != decision:
        problem = f"it signs {statement.decision!r}, not {decision}"
        return ApprovalProof(True, False, problem=problem), statement
    if statement.signer != person.name:
        problem = f"its statement is signed for {statement.signer}, not {person.name}"
        return ApprovalProof(True, False, problem=problem), statement
    try:
        check = sshsig.check(statement_text.encode(), signature, person.name, people_keys(people))
    except TurnoutError as exc:
        problem = f"it cannot be verified here: {exc.message}"
        return ApprovalProof(True, False, problem=problem), statement
    proof = ApprovalProof(True, check.valid, check.fingerprint, check.problem, check.unknown_key)
    return proof, statement


def prove(
    statement_text: str,
    signature: str,
    person: Person,
    people: list[Person],
    subject: ReleaseSubject | None,
) -> ApprovalProof:
    """Check a signed statement: readable, by `person`, about `subject`, signed with one of
    `person`'s configured keys."""
    proof, statement = verify_statement(statement_text, signature, person, people)
    if statement is None or not proof.valid:
        return proof
    if subject is None:
        return ApprovalProof(True, False, proof.fingerprint, "there is no deployment to match")
    differs = statement.differs_from(subject)
    if differs is not None:
        return ApprovalProof(True, False, proof.fingerprint, differs)
    return proof


def prove_approval(
    row: ApprovalRecord, person: Person, people: list[Person], subject: ReleaseSubject | None
) -> ApprovalProof:
    """What a recorded approval's signature proves (unsigned rows prove nothing)."""
    if not row.signature or not row.statement:
        return ApprovalProof(signed=False, valid=False)
    return prove(row.statement, row.signature, person, people, subject)


def attestation_problem(
    config: LoadedConfig,
    env: EnvironmentConfig,
    record: dict[str, Any],
    item: str,
    deployment: PlannedDeployment,
) -> str | None:
    """Why a recorded attestation does not count for this deployment (None: it counts)."""
    statement_text, signature = record.get("statement"), record.get("signature")
    if not isinstance(statement_text, str) or not isinstance(signature, str):
        if signatures_required(env):
            return f"unsigned, and {env.name} counts only signed attestations"
        return None
    from turnout.config.people import find_person

    person = find_person(config.root.people, str(record.get("by")))
    if person is None:
        return f"{record.get('by')} is no longer in `people`"
    proof, statement = verify_statement(
        statement_text, signature, person, config.root.people, "attest"
    )
    if not proof.valid or statement is None:
        return f"bad signature: {proof.problem}"
    package = str(deployment.package) if deployment.package is not None else None
    return statement.attestation_differs(
        env.name,
        deployment.version,
        item,
        package_sha256(package) if statement.package_sha256 is not None else None,
        release_commit(config) if statement.commit is not None else None,
    )
