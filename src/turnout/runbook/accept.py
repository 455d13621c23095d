"""`turnout accept`: a person keeps a release whose verification could not decide (a hold).

The held deployment becomes kept ("succeeded"), recorded plainly as accepted
unproven, by whom and why; it is never called verified. The environment's
approval rules apply to the person who accepts: where deployments need an
approval (production: a senior engineer), only someone who could approve it
may accept it, and never the deployer. After that, `turnout watch` goes on
judging it and `turnout rollback` can still go back to the version it replaced.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from turnout.config import EnvironmentConfig, LoadedConfig
from turnout.config.people import find_person
from turnout.errors import BadInput, Refused
from turnout.model import DeploymentStatus
from turnout.policy.approvals import base_roles, eligible, is_deployer
from turnout.runbook.lease import Lease
from turnout.store import Store
from turnout.store.deployment_data import AcceptanceRecord, VerificationRecord
from turnout.store.records import AuditAction, DeploymentRecord
from turnout.targets.protocol import PRODUCTION, Target


def held_deployment(store: Store, environment: str) -> DeploymentRecord:
    """The environment's latest deployment, when it is held for a person after verify."""
    rows = store.deployments(environment, limit=1)
    if not rows or rows[0].status != DeploymentStatus.NEEDS_PERSON.value:
        latest = f"the latest is #{rows[0].id} ({rows[0].status})" if rows else "none yet"
        raise BadInput(f"{environment}: no held deployment to accept ({latest})")
    row = rows[0]
    failure = row.data.failure
    if failure is None or failure.step != "verify":
        step, error = (None, None) if failure is None else (failure.step, failure.error)
        raise Refused(
            f"{environment}: deployment #{row.id} needs a person because {step}"
            f" failed ({error}), not because its verification was undecided;"
            " accepting applies only to a release held by verification"
        )
    return row


def accept(
    config: LoadedConfig,
    env: EnvironmentConfig,
    store: Store,
    actor: str,
    *,
    reason: str,
    target: Target | None = None,
) -> dict[str, Any]:
    """Keep the held release live; audited. Returns a JSON-ready document."""
    if not reason.strip():
        raise BadInput("--reason must say why the release is kept without proof")
    lease = Lease(store, env.name, actor)
    lease.acquire()
    try:
        row = held_deployment(store, env.name)
        _check_rules(config, env, store, row, actor, reason)
        if target is None:
            from turnout.targets.registry import create_target

            target = create_target(config, env)
        live = target.slots().get(PRODUCTION)
        if live is None or live.version != row.version:
            found = live.version if live is not None else "nothing"
            raise Refused(
                f"{env.name}: production runs {found}, not the held {row.version}; nothing to"
                " accept"
            )
        at = store.now()
        message = f"{row.version} accepted unproven by {actor}: {reason}"
        verification = row.data.verification or VerificationRecord()
        store.update_deployment_data(
            row.id,
            accepted=AcceptanceRecord(by=actor, reason=reason, at=at),
            verification=replace(verification, proven=False, accepted_by=actor),
        )
        store.update_deployment(row.id, status=DeploymentStatus.SUCCEEDED.value, message=message)
        store.audit(
            actor,
            AuditAction.DEPLOY_ACCEPTED,
            environment=env.name,
            deployment_id=row.id,
            version=row.version,
            reason=reason,
            proven=False,
        )
        return {
            "environment": env.name,
            "deployment": row.id,
            "version": row.version,
            "accepted_by": actor,
            "reason": reason,
            "at": at.isoformat(),
            "summary": f"{env.name}: {message} (not proven healthy; `turnout watch --env"
            f" {env.name}` keeps judging it)",
        }
    finally:
        lease.release()


def _check_rules(
    config: LoadedConfig,
    env: EnvironmentConfig,
    store: Store,
    row: DeploymentRecord,
    actor: str,
    reason: str,
) -> None:
    roles = base_roles(env)
    if not roles:
        return

    def refuse(message: str) -> None:
        store.audit(
            actor,
            AuditAction.ACCEPT_REFUSED,
            environment=env.name,
            deployment_id=row.id,
            why=message,
        )
        raise Refused(message)

    person = find_person(config.root.people, actor)
    may = ", ".join(eligible(config, tuple(roles), row.deployer)) or "nobody configured"
    if person is None:
        refuse(
            f"{actor} is not in `people` of {config.path}; {env.name} needs one of"
            f" {', '.join(roles)} to accept (may accept: {may})"
        )
        return
    if is_deployer(person, actor, row.deployer):
        refuse(
            f"{person.name} deployed #{row.id}; nobody accepts their own deployment"
            f" (may accept: {may})"
        )
    if not set(person.roles) & set(roles):
        refuse(
            f"{person.name} (roles: {', '.join(person.roles) or 'none'}) cannot accept on"
            f" {env.name}: it needs one of {', '.join(roles)} (may accept: {may})"
        )
