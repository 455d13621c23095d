"""People and their roles (who may approve what)."""

from __future__ import annotations

import base64
import binascii

from pydantic import Field, field_validator

from turnout.config.base import Section
from turnout.config.secrets import Secret


class Person(Section):
    """Someone who deploys, approves or is on call."""

    name: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    """E.g. senior-engineer, vp-engineering, director."""
    email: str | None = None
    github: str | None = None
    slack: str | None = None
    aliases: list[str] = Field(default_factory=list)
    """Other names this person acts under (OS user names, CI identities)."""
    notify: Secret | None = None
    """Secret reference to an Apprise URL reaching this person directly (a Slack DM
    webhook, mailto://…): how the on-call engineer is told of a production deployment."""
    dashboard_token: Secret | None = None
    """Secret reference to this person's sign-in token for `turnout dashboard`
    (docs/dashboard.md); without one the person cannot sign in there."""

    ssh_keys: list[str] = Field(default_factory=list)
    """OpenSSH public key lines (`ssh-ed25519 AAAA… comment`) whose signatures stand for
    this person: approvals are signed with one of them (`ssh-keygen -Y sign`). Removing a
    key revokes every signature made with it."""

    @field_validator("ssh_keys")
    @classmethod
    def _public_keys(cls, value: list[str]) -> list[str]:
        for index, line in enumerate(value):
            problem = public_key_problem(line)
            if problem is not None:
                raise ValueError(f"ssh_keys[{index}]: {problem}")
        return value

    def identities(self) -> set[str]:
        """Every name that stands for this person, lower-cased (e-mail: address and user)."""
        names = {self.name, *self.aliases}
        for handle in (self.github, self.slack):
            if handle:
                names.add(handle.lstrip("@"))
        if self.email:
            names.update({self.email, self.email.split("@", 1)[0]})
        return {n.strip().lower() for n in names if n.strip()}

    def answers_to(self, who: str) -> bool:
        """Whether `who` (an --as value, a deployer, an OS user) is this person."""
        return who.strip().lstrip("@").lower() in self.identities()


def find_person(people: list[Person], who: str) -> Person | None:
    """The person `who` names: an exact name first, then any identity."""
    for person in people:
        if person.name == who:
            return person
    for person in people:
        if person.answers_to(who):
            return person
    return None


KEY_TYPES = (
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
)
"""Public key types `ssh-keygen -Y` signs with."""


def public_key_problem(line: str) -> str | None:
    """What is wrong with an OpenSSH public key line (None: nothing), checked without
    running anything: a known type, then base64 whose first field names the same type."""
    parts = line.split()
    if len(parts) < 2:
        return "not an OpenSSH public key (expected `ssh-ed25519 AAAA… comment`, one line)"
    kind, blob = parts[0], parts[1]
    if kind.startswith("-----") or "PRIVATE" in line:
        return "this is a private key: give the public key (the .pub file's line)"
    if kind not in KEY_TYPES:
        return f"key type {kind!r} is not one of {', '.join(KEY_TYPES)}"
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return "the key's base64 part is damaged"
    size = int.from_bytes(raw[:4], "big")
    if raw[4 : 4 + size] != kind.encode():
        return f"the key's content is not a {kind} key"
    return None
