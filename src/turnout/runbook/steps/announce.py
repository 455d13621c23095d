"""Phase 1.1 and 6.1: announce the start, the success, or what went wrong.

Announcements never fail a deployment: deliveries that did not arrive are recorded in
the step's outputs and the audit log, and the deployment goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from turnout.errors import TurnoutError
from turnout.integrations.messages import MessageKind
from turnout.integrations.notify import AppriseChannel, Delivery, Notifier, notifier_for
from turnout.policy.flags import is_production
from turnout.runbook.outputs import (
    AnnounceOutputs,
    AnnounceSuccessOutputs,
    OnCallOutputs,
    SnapshotOutputs,
    StageOutputs,
    SwapOutputs,
    TrackOutputs,
    VerifyOutputs,
)
from turnout.runbook.step import Outcome, Step, StepContext
from turnout.runbook.traffic import SWAP_STEP, swap_moved_traffic
from turnout.store.deployment_data import AnnouncementRecord
from turnout.store.records import AuditAction

Announced = TypeVar("Announced", bound=AnnounceOutputs)
HEALTH_STEPS = ("warmup", "smoke", "verify-db", "verify")
_OUTCOME_KIND = {
    Outcome.ROLLED_BACK: MessageKind.ROLLBACK,
    Outcome.REFUSED: MessageKind.REFUSED,
    Outcome.NEEDS_PERSON: MessageKind.NEEDS_PERSON,
}


def handle(ctx: StepContext, name: str | None) -> str | None:
    """A person's Slack handle when the configuration knows it, else the name."""
    if not name:
        return None
    for person in ctx.config.root.people:
        if person.name.casefold() == name.casefold():
            return person.slack or person.name
    return name


def tracking_url(ctx: StepContext) -> str | None:
    """Link to the tracking issue, when the track step opened one with a URL."""
    track = ctx.output(TrackOutputs)
    if track is not None and track.issue is not None and track.issue.get("url"):
        return str(track.issue["url"])
    return None


def base_context(ctx: StepContext) -> dict[str, Any]:
    """What every announcement names: environment, version, deployer, links."""
    d = ctx.deployment
    return {
        "deployment_id": d.id,
        "environment": d.environment,
        "version": d.version,
        "previous_version": d.previous_version,
        "type": d.type.value,
        "deployer": handle(ctx, d.deployer),
        "changes": d.changes or ctx.config.root.app.changes,
        "emergency": d.emergency,
        "reason": d.reason,
        "tracking_url": tracking_url(ctx),
    }


def oncall_backup(ctx: StepContext) -> str | None:
    """The first person on call who is not the deployer (None when nobody is known)."""
    from turnout.integrations.oncall import on_call

    try:
        found = on_call(ctx.config, ctx.env, at=ctx.clock.now())
    except TurnoutError as exc:
        ctx.progress(f"on-call lookup failed: {exc.message}")
        return None
    return handle(ctx, found.backup_for(ctx.deployment.deployer))


def live_version(ctx: StepContext) -> str | None:
    """The version production serves now, as the target reports it (None if unknown)."""
    from turnout.targets.protocol import PRODUCTION

    try:
        slot = ctx.target.slots().get(PRODUCTION)
    except Exception:  # an announcement never fails for lack of a detail
        return None
    return slot.version if slot is not None else None


def rollback_plan(ctx: StepContext) -> str:
    """The rollback plan in one line, from what turnout will keep."""
    previous = live_version(ctx) or ctx.deployment.previous_version
    plan = (
        f"Ready: {previous} stays warm in the staging slot for an instant swap back"
        if previous
        else "Ready: nothing live yet, nothing to swap back to"
    )
    if ctx.env.database.url:
        plan += "; verified database backup before any migration"
    return plan


def start_context(ctx: StepContext) -> dict[str, Any]:
    """Context of the start announcement (runbook Phase 1.1)."""
    return {
        **base_context(ctx),
        "eta_minutes": ctx.config.root.app.eta_minutes,
        "oncall": oncall_backup(ctx),
        "rollback_plan": rollback_plan(ctx),
    }


def success_context(ctx: StepContext) -> dict[str, Any]:
    """Context of the success announcement (runbook Phase 6.1)."""
    verify = ctx.output(VerifyOutputs) or VerifyOutputs()
    started = ctx.deployment.created_at
    return {
        **base_context(ctx),
        "duration_seconds": max((ctx.clock.now() - started).total_seconds(), 0.0),
        "commit": _release_commit(ctx),
        "checks": {name: ctx.succeeded(name) for name in HEALTH_STEPS if name in ctx.statuses},
        "error_rate": verify.measured("error_rate"),
        "p95_ms": verify.measured("p95_ms"),
        "max_error_rate": ctx.env.analysis.max_error_rate,
        "max_p95_ms": ctx.env.analysis.max_p95_ms,
        # Kept without proof (accepted unproven, or not measured): the message says so.
        "proven": verify.proven is not False,
        "verification": verify.summary,
        **canary_context(ctx),
    }


def _release_commit(ctx: StepContext) -> str | None:
    for outputs in (ctx.output(StageOutputs), ctx.output(SnapshotOutputs)):
        if outputs is not None and outputs.commit:
            return outputs.commit
    from turnout.integrations.vcs import git, is_repository

    repo = ctx.config.resolve_path(ctx.config.root.app.repository)
    try:
        if is_repository(repo):
            return git(repo, "rev-parse", "HEAD").stdout.strip() or None
    except TurnoutError:
        return None
    return None


def traffic_moved(ctx: StepContext) -> bool | None:
    """Whether the swap moved traffic to the new version at some point; None for a plan
    without a swap. A failure before it (or a swap that failed without moving anything) is
    announced as such, not as a rollback."""
    swap = ctx.statuses.get(SWAP_STEP)
    if swap is None:
        return None
    return swap_moved_traffic(swap, ctx.output(SwapOutputs))


def failure_context(ctx: StepContext) -> dict[str, Any]:
    """Context of a rollback, refusal or needs-person message: what failed and the evidence."""
    failure = ctx.failure_record
    details = dict(failure.details or {}) if failure is not None else {}
    evidence = details.get("evidence")
    return {
        **base_context(ctx),
        "live_version": live_version(ctx),
        "failed_step": None if failure is None else failure.step,
        "error": None if failure is None else failure.error,
        "evidence": evidence if evidence is not None else details or None,
        "oncall": oncall_backup(ctx),
        "traffic_moved": traffic_moved(ctx),
        **canary_context(ctx),
    }


def canary_context(ctx: StepContext) -> dict[str, Any]:
    """What the canary did, for the announcements: its summary and its blast radius (user
    requests the new version served and failed), when it ran in this deployment."""
    if "canary" not in ctx.statuses:
        return {}
    from turnout.runbook.canary_record import stored_record

    record = stored_record(ctx.store, ctx.env.name, ctx.deployment.id)
    if record is None:
        return {}
    shares = [s.share for s in record.steps or []]
    return {
        "canary_summary": record.summary,
        "canary_served": record.served or 0,
        "canary_failed": record.failed or 0,
        "canary_share": max(shares) if shares else None,
    }


def announce(
    ctx: StepContext, kind: MessageKind, context: Mapping[str, Any], record: type[Announced]
) -> Announced:
    """Send, remember that it was sent, audit failures; the step outputs, as `record`."""
    notifier = notifier_for(ctx.config, ctx.env, clock=ctx.clock, console=ctx.progress)
    deliveries = notifier.send(kind, context)
    _remember(ctx, kind, deliveries)
    failed = [d for d in deliveries if not d.ok]
    if failed:
        ctx.store.audit(
            "turnout",
            AuditAction.NOTIFY_FAILED,
            environment=ctx.deployment.environment,
            deployment_id=ctx.deployment.id,
            kind=kind.value,
            failures=[d.to_dict() for d in failed],
        )
    delivered = len(deliveries) - len(failed)
    return record(
        summary=f"{kind.value} announcement delivered to {delivered} of {len(deliveries)} channels",
        kind=kind,
        deliveries=[d.to_dict() for d in deliveries],
    )


def _remember(ctx: StepContext, kind: MessageKind, deliveries: list[Delivery]) -> None:
    sent = dict(ctx.recorded_data().announcements)
    sent[kind.value] = AnnouncementRecord(
        at=ctx.clock.now(), delivered=tuple(d.channel for d in deliveries if d.ok)
    )
    ctx.store.update_deployment_data(ctx.deployment.id, announcements=sent)


def already_sent(ctx: StepContext, kind: MessageKind) -> AnnouncementRecord | None:
    """The record of an announcement of this kind for the deployment, if one was sent."""
    return ctx.recorded_data().announcements.get(kind.value)


def sent_earlier(ctx: StepContext, kind: MessageKind, record: type[Announced]) -> Announced | None:
    """The step outputs of an announcement an earlier run already sent (None: not sent)."""
    sent = already_sent(ctx, kind)
    if sent is None:
        return None
    return record(
        summary=f"{kind.value} announcement already sent",
        kind=kind,
        at=sent.at,
        delivered=list(sent.delivered),
    )


class AnnounceStartStep(Step):
    """Runbook Phase 1.1: "Production Deployment Starting"."""

    name = "announce"
    changes_production = False
    phase = "pre-deployment"

    def observe(self, ctx: StepContext) -> AnnounceOutputs | None:
        return sent_earlier(ctx, MessageKind.START, AnnounceOutputs)

    def run(self, ctx: StepContext) -> AnnounceOutputs:
        return announce(ctx, MessageKind.START, start_context(ctx), AnnounceOutputs)

    def after(self, ctx: StepContext, outcome: Outcome) -> None:
        # Success has its own step (announce-success); any other ending is told here once.
        kind = _OUTCOME_KIND.get(outcome)
        if kind is None or already_sent(ctx, kind) is not None:
            return
        announce(ctx, kind, failure_context(ctx), AnnounceOutputs)


@dataclass(frozen=True)
class OnCallNotice:
    """Who was on call when a production deployment finished, and whether they were told."""

    person: str | None
    """As announced (their Slack handle when known); None when nobody was found."""
    source: str
    reached: str | None = None
    """How they were told directly: the URL's kind and the setting, e.g.
    `slack, people[1].notify` (never the URL)."""
    unreached: str | None = None
    """Why they were not told directly."""

    def context(self) -> dict[str, Any]:
        """The success announcement's on-call keys."""
        return {
            "oncall_now": self.person,
            "oncall_reached": self.reached,
            "oncall_unreached": self.unreached,
        }

    def outputs(self) -> OnCallOutputs:
        """Its record in the success step's outputs."""
        return OnCallOutputs(
            person=self.person,
            source=self.source,
            oncall_now=self.person,
            oncall_reached=self.reached,
            oncall_unreached=self.unreached,
        )


def tell_oncall(ctx: StepContext, context: Mapping[str, Any]) -> OnCallNotice:
    """Send the on-call engineer of the moment a message of their own, where their
    `people[].notify` reaches them; never raises (the deployment is done)."""
    from turnout.config.people import find_person
    from turnout.integrations.oncall import on_call

    try:
        found = on_call(ctx.config, ctx.env, at=ctx.clock.now())
    except TurnoutError as exc:
        ctx.progress(f"on-call lookup failed: {exc.message}")
        return OnCallNotice(None, "unknown", unreached=f"on-call lookup failed: {exc.message}")
    name = found.first()
    if name is None:
        return OnCallNotice(None, found.source, unreached="nobody is on call")
    people = ctx.config.root.people
    person = find_person(people, name)
    if person is None and name in found.emails:
        person = find_person(people, found.emails[name])
    shown = handle(ctx, person.name if person is not None else name)
    if person is None or person.notify is None:
        why = f"no people[].notify for {person.name if person is not None else name}"
        return OnCallNotice(shown, found.source, unreached=why)
    key = f"people[{people.index(person)}].notify"
    channel = AppriseChannel(person.notify, key=key, file=str(ctx.config.path))
    settings = ctx.env.integrations.notify
    notifier = Notifier(
        [channel],
        retries=settings.retries,
        backoff=settings.backoff,
        timeout=settings.timeout,
        clock=ctx.clock,
        hashtags=settings.hashtags,
    )
    [delivery] = notifier.send(MessageKind.ONCALL, context)
    if not delivery.ok:
        ctx.store.audit(
            "turnout",
            AuditAction.NOTIFY_FAILED,
            environment=ctx.deployment.environment,
            deployment_id=ctx.deployment.id,
            kind=MessageKind.ONCALL.value,
            failures=[delivery.to_dict()],
        )
        return OnCallNotice(shown, found.source, unreached=f"{key}: {delivery.error}")
    try:
        scheme = urlsplit(channel.url()).scheme or "?"
    except TurnoutError:
        scheme = "?"
    return OnCallNotice(shown, found.source, reached=f"{scheme}, {key}")


class AnnounceSuccessStep(Step):
    """Runbook Phase 6.1: "Production Deployment Complete"."""

    name = "announce-success"
    phase = "communication"

    def observe(self, ctx: StepContext) -> AnnounceSuccessOutputs | None:
        return sent_earlier(ctx, MessageKind.SUCCESS, AnnounceSuccessOutputs)

    def run(self, ctx: StepContext) -> AnnounceSuccessOutputs:
        context = success_context(ctx)
        if not is_production(ctx.env):
            return announce(ctx, MessageKind.SUCCESS, context, AnnounceSuccessOutputs)
        # The runbook's "on-call engineer aware": told first, so the announcement can say so.
        notice = tell_oncall(ctx, context)
        outputs = announce(
            ctx, MessageKind.SUCCESS, {**context, **notice.context()}, AnnounceSuccessOutputs
        )
        return outputs.model_copy(update={"oncall": notice.outputs()})
