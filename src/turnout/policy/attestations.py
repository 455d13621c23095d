"""Signed attestations: a person vouches for a checklist item of a release with a
statement signed by their SSH key, checked each time the checklist runs.

Where `policy.approvals.signed` (production by default) an unsigned attestation counts
for nothing, as an unsigned approval does; anywhere, a signature that does not verify,
or one over another item, release package or commit, makes it count for nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.config.people import find_person
from turnout.errors import BadInput, Refused
from turnout.policy.checklist import normalise_item, record_attestation
from turnout.policy.signed_approvals import (
    package_sha256,
    release_commit,
    signatures_required,
    verify_statement,
)
from turnout.signatures.statement import Statement

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.store import Store


def _release_package(config: LoadedConfig, version: str) -> str | None:
    from turnout.errors import PackageError

    try:
        return str(config.release_package(version))
    except PackageError:
        return None


def attest(
    config: LoadedConfig,
    env: EnvironmentConfig,
    store: Store,
    version: str,
    item: str,
    who: str,
    note: str | None,
    signing_key: Path | None,
) -> dict[str, Any]:
    """Record `who`'s attestation, signed with `signing_key` when given (required where
    only signed decisions count) and checked against `who`'s keys before it is recorded.

    Someone not in `people`, no key where one is needed, a key that cannot sign: BadInput
    (exit 2); a signature that is not `who`'s: Refused (exit 3)."""
    key = normalise_item(item)
    person = find_person(config.root.people, who)
    if config.root.people and person is None:
        known = ", ".join(p.name for p in config.root.people)
        raise BadInput(f"{who} is not in `people` of {config.path} (known: {known})")
    if signatures_required(env) and signing_key is None:
        raise BadInput(
            f"{env.name} counts only signed attestations (policy.approvals.signed): give"
            f" --key with {who}'s SSH key, or set TURNOUT_SIGNING_KEY"
        )
    if signing_key is None or person is None:
        return record_attestation(store, env.name, version, key, who, note)
    from turnout.signatures.sshsig import sign

    at = store.now()
    statement = Statement.attestation(
        environment=env.name,
        version=version,
        item=key,
        signer=person.name,
        at=at,
        note=note,
        package_sha256=package_sha256(_release_package(config, version)),
        commit=release_commit(config),
    )
    text = statement.canonical().decode("ascii")
    signature = sign(statement.canonical(), signing_key)
    proof, _ = verify_statement(text, signature, person, config.root.people, "attest")
    if not proof.valid:
        raise Refused(f"attestation of {key} not recorded: {proof.problem}")
    return record_attestation(
        store,
        env.name,
        version,
        key,
        person.name,
        note,
        at=at,
        statement=text,
        signature=signature,
    )
