"""The canonical statement a person signs: what they decided, about which release, when.

The bytes signed are one line of JSON with sorted keys and no spaces, so the same
statement always gives the same bytes whoever writes it, and anyone can read what was
signed from the store or the audit log and check it with `ssh-keygen -Y verify`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

FORMAT = "turnout-statement/1"
"""The statement's own format name, signed with it so a later format is never mistaken."""
NAMESPACE = "turnout-approval"
"""The SSH signature namespace: a signature made for git or anything else never counts."""


class StatementError(ValueError):
    """Stored statement text that is not a statement of this format."""


@dataclass(frozen=True)
class ReleaseSubject:
    """What a decision about a deployment is about, as the deployment is now."""

    deployment: int
    environment: str
    version: str
    package_sha256: str | None
    """sha256 of the release package (the zip file's bytes or the directory tree); None
    when the package is no longer there."""
    commit: str | None
    """The commit the release is tagged on (HEAD of the app's repository); None when the
    app is not in a git repository."""
    created_at: datetime
    """When the deployment was asked for: a statement made earlier is about another one."""


@dataclass(frozen=True)
class Statement:
    """One signed decision: an approval of a deployment, or an attestation of a checklist
    item for a release."""

    decision: str
    """What was decided: "approve" or "attest"."""
    signer: str
    """The person's name in the configuration's `people`."""
    at: datetime
    deployment: int | None
    """The deployment approved (None for an attestation: it comes before the deployment)."""
    environment: str
    version: str
    package_sha256: str | None
    commit: str | None
    roles: tuple[str, ...]
    """The roles the signer approves in (the requirement approved)."""
    comment: str | None = None
    item: str | None = None
    """The checklist item attested."""

    @classmethod
    def attestation(
        cls,
        *,
        environment: str,
        version: str,
        item: str,
        signer: str,
        at: datetime,
        note: str | None,
        package_sha256: str | None,
        commit: str | None,
    ) -> Statement:
        """The statement of `signer` vouching for a checklist item of a release."""
        return cls(
            decision="attest",
            signer=signer,
            at=at,
            deployment=None,
            environment=environment,
            version=version,
            package_sha256=package_sha256,
            commit=commit,
            roles=(),
            comment=note,
            item=item,
        )

    def attestation_differs(
        self,
        environment: str,
        version: str,
        item: str,
        package_sha256: str | None,
        commit: str | None,
    ) -> str | None:
        """Why this attestation is not about this item of this release (None: it is); the
        package and commit are compared when the statement names them."""
        if (self.environment, self.version, self.item) != (environment, version, item):
            return (
                f"it attests {self.item} of {self.version} in {self.environment},"
                f" not {item} of {version} in {environment}"
            )
        if self.package_sha256 is not None and self.package_sha256 != package_sha256:
            return (
                f"it attests release package sha256 {_short(self.package_sha256)},"
                f" the package is {_short(package_sha256)}"
            )
        if self.commit is not None and self.commit != commit:
            return f"it attests commit {_short(self.commit)}, the release is on {_short(commit)}"
        return None

    @classmethod
    def approval(
        cls,
        subject: ReleaseSubject,
        signer: str,
        roles: tuple[str, ...],
        at: datetime,
        comment: str | None,
    ) -> Statement:
        """The statement of `signer` approving the deployment `subject` describes."""
        return cls(
            decision="approve",
            signer=signer,
            at=at,
            deployment=subject.deployment,
            environment=subject.environment,
            version=subject.version,
            package_sha256=subject.package_sha256,
            commit=subject.commit,
            roles=roles,
            comment=comment,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the format name."""
        body: dict[str, Any] = {"format": FORMAT}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            body[item.name] = value
        return body

    def canonical(self) -> bytes:
        """The exact bytes that are signed and stored."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return text.encode("ascii") + b"\n"

    @classmethod
    def parse(cls, text: str) -> Statement:
        """The statement stored as `text` (StatementError when it is not one)."""
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise StatementError(f"not JSON ({exc})") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise StatementError(f"not a {FORMAT} statement")
        try:
            return cls(
                decision=_text(body["decision"]),
                signer=_text(body["signer"]),
                at=datetime.fromisoformat(_text(body["at"])),
                deployment=None if body.get("deployment") is None else _integer(body["deployment"]),
                environment=_text(body["environment"]),
                version=_text(body["version"]),
                package_sha256=_optional_text(body.get("package_sha256")),
                commit=_optional_text(body.get("commit")),
                roles=tuple(_text(role) for role in body.get("roles") or ()),
                comment=_optional_text(body.get("comment")),
                item=_optional_text(body.get("item")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StatementError(f"missing or malformed field ({exc})") from None

    def differs_from(self, subject: ReleaseSubject) -> str | None:
        """Why this statement is not about `subject` (None: it is), in words."""
        if self.deployment != subject.deployment:
            return f"it approves deployment {self.deployment}, not {subject.deployment}"
        if self.environment != subject.environment:
            return f"it approves a deployment to {self.environment}, not {subject.environment}"
        if self.version != subject.version:
            return f"it approves version {self.version}, not {subject.version}"
        if self.package_sha256 != subject.package_sha256:
            now = subject.package_sha256 or "missing"
            return (
                f"it approves release package sha256 {_short(self.package_sha256)},"
                f" the package is now {_short(now)}"
            )
        if self.commit != subject.commit:
            return (
                f"it approves commit {_short(self.commit)}, the release is on"
                f" {_short(subject.commit)}"
            )
        if self.at < subject.created_at:
            return (
                f"it was signed at {self.at.isoformat()}, before deployment"
                f" {subject.deployment} was asked for ({subject.created_at.isoformat()})"
            )
        return None


def _short(value: str | None) -> str:
    return "none" if value is None else value[:12]


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _integer(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{value!r} is not an integer")
    return value
