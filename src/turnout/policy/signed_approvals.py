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


def prove(
    statement_text: str,
    signature: str,
    person: Person,
    people: list[Person],
    subject: ReleaseSubject | None,
) -> ApprovalProof:
    """Check a signed statement: readable, by `person`, about `subject`, signed with one of
    `person`'s configured keys."""
    try:
        statement = Statement.parse(statement_text)
    except StatementError as exc:
        return ApprovalProof(True, False, problem=f"its statement is unreadable: {exc}")
    if statement.decision != "approve":
        return ApprovalProof(True, False, problem=f"it signs {statement.decision!r}, not approve")
    if statement.signer != person.name:
        return ApprovalProof(
            True,
            False,
            problem=f"its statement is signed for {statement.signer}, not {person.name}",
        )
    try:
        check = sshsig.check(statement_text.encode(), signature, person.name, people_keys(people))
    except TurnoutError as exc:
        return ApprovalProof(True, False, problem=f"it cannot be verified here: {exc.message}")
    if not check.valid:
        return ApprovalProof(True, False, check.fingerprint, check.problem)
    if subject is None:
        return ApprovalProof(True, False, check.fingerprint, "there is no deployment to match")
    differs = statement.differs_from(subject)
    if differs is not None:
        return ApprovalProof(True, False, check.fingerprint, differs)
    return ApprovalProof(True, True, check.fingerprint)


def prove_approval(
    row: ApprovalRecord, person: Person, people: list[Person], subject: ReleaseSubject | None
) -> ApprovalProof:
    """What a recorded approval's signature proves (unsigned rows prove nothing)."""
    if not row.signature or not row.statement:
        return ApprovalProof(signed=False, valid=False)
    return prove(row.statement, row.signature, person, people, subject)
