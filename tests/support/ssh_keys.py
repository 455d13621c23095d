"""Real SSH keys for tests, made by ssh-keygen, and a policy project that declares them."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.policy_project import PolicyProject, clean_sarif, make_project
from turnout.policy.attestations import attest
from turnout.policy.checklist import record_attestation

PEOPLE = ("dana", "sam", "vic", "mallory")
"""mallory's key is made but never declared in the configuration."""


@dataclass(frozen=True)
class Keys:
    """Each person's private key file and public key line."""

    folder: Path

    def private(self, who: str) -> Path:
        """The private key file."""
        return self.folder / who

    def public(self, who: str) -> str:
        """The public key line."""
        return (self.folder / f"{who}.pub").read_text().strip()


def make_keys(folder: Path, people: tuple[str, ...] = PEOPLE) -> Keys:
    """ed25519 keys without passphrases, one per person, by the real ssh-keygen."""
    folder.mkdir(parents=True, exist_ok=True)
    for who in people:
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(folder / who)],
            check=True,
        )
    return Keys(folder)


def _people_with_keys(keys: Keys) -> dict[str, str]:
    return {
        f'name = "{who}"\n': f'name = "{who}"\nssh_keys = ["{keys.public(who)}"]\n'
        for who in ("dana", "sam", "vic")
    }


def signed_project(root: Path, keys: Keys) -> PolicyProject:
    """The policy project with production's default (signed approvals) and declared keys."""
    replace = {"signed = false\n": "", **_people_with_keys(keys)}
    return make_project(root, replace=replace)


def waiting_for_approval(
    project: PolicyProject, keys: Keys | None, version: str = "1.1.0", **kw: Any
) -> int:
    """A production deployment of `version`, ready but for its approval (its checklist
    attested by sam, signed with `keys`, unsigned without); its id."""
    project.record_verified("staging", version)
    project.write_sarif(version, clean_sarif())
    production = project.config.env("production")
    for item in ("code_reviewed", "change_notification"):
        if keys is None:
            record_attestation(project.store, "production", version, item, "sam", "PR #12")
            continue
        attest(
            project.config, production, project.store, version, item, "sam", "PR #12",
            keys.private("sam"),
        )  # fmt: skip
    waiting = project.deploy("production", version, **kw)
    assert waiting.exit_code == 3, waiting.message
    return waiting.deployment_id
