"""The canary phase, between the smoke tests (and migrations) and the swap: a share of
production's new clients on the new version, judged side by side with production.

For each configured share, in order: the share is journaled, then applied through the
target (`SharesTraffic`); the canary slot's requests and production's, in the same
seconds, are judged by the two-sample sequential tests and the absolute limits
(`analysis.canary`) until the step has lasted its seconds and served its requests; then
the next share. One test runs over every step, so the false-rollback bound holds however
long the canary looks.

- A regression sets the share to zero at once and fails the step: the engine compensates
  and the release never reaches the swap (production stays on the old version). The
  evidence counts the user requests the new version served and failed (its blast radius).
- A step whose requests do not come within `max_seconds` ends the canary without a
  verdict: too little traffic is never a rollback; the share goes to zero and the swap
  follows, where `verify` judges production's traffic.
- Once the last step passed, the share goes back to zero and the swap follows at once.
- A target that cannot route a share, a release whose migrations are marked not backward
  compatible, an environment without metrics or without a version in production: the
  canary is skipped, with the reason in its outputs and the progress.

The record (`CanaryOutputs`) is kept in the state store before every change of share, so
`turnout status` shows the share in force while it runs. A run that was cut off (the
process killed) is run again by `resume`: it first sets the share to zero, then carries
on at the step that was in force with the evidence gathered so far (a regression already
found stands). The undo, run by compensation, sets the share to zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from turnout.analysis.baseline import Baseline
from turnout.analysis.canary import CanaryJudge, CanaryState, SideBySide, blast_radius
from turnout.analysis.provider import MetricsProvider, choose_provider
from turnout.errors import StepError
from turnout.model import Verdict, VerdictKind
from turnout.runbook.canary_record import keep_record, stored_record
from turnout.runbook.outputs import (
    CanaryOutputs,
    CanaryStepRecord,
    MigrateOutputs,
    SnapshotOutputs,
)
from turnout.runbook.step import Step, StepContext
from turnout.runbook.steps.stage import staging_slot
from turnout.targets.protocol import (
    NO_SHARE,
    PRODUCTION,
    SharesTraffic,
    Stickiness,
    TrafficShare,
    can_share_traffic,
)

if TYPE_CHECKING:
    from turnout.config.canary import CanaryConfig
    from turnout.config.canary import CanaryStep as ShareStep

STEP = CanaryOutputs.step
CUT_OFF: dict[str, Any] = {"outcome": "cut-off"}


class CanaryPhaseStep(Step):
    """Share production's traffic with the new version, step by step, judged side by side."""

    name = STEP
    phase = "application"
    undoable = True

    def observe(self, ctx: StepContext) -> CanaryOutputs | None:
        # Ended before an interruption kept it in the journal: the share is zero already.
        earlier = stored_record(ctx.store, ctx.env.name, ctx.deployment.id)
        if earlier is not None and earlier.outcome in {"passed", "short", "skipped"}:
            return earlier
        return None

    def run(self, ctx: StepContext) -> CanaryOutputs:
        earlier = stored_record(ctx.store, ctx.env.name, ctx.deployment.id)
        resumed = 0
        if earlier is not None and earlier.outcome in {"running", "regressed"}:
            # Cut off while a share may have been in force: back to zero before anything.
            _zero(ctx)
            resumed = (earlier.resumed or 0) + 1
            ctx.progress(
                f"canary: resumed after an interruption; the share ({earlier.share or 0:g} %)"
                " is back to zero first"
            )
        config = ctx.env.canary
        why = None if config is None else _why_skip(ctx)
        if config is None or why is not None:
            reason = why or "no [canary] is configured for this environment"
            # Incompatible migrations are a warning: the release goes out with no canary.
            warning = "warning: " if "not backward compatible" in reason else ""
            ctx.progress(f"{warning}canary skipped: {reason}")
            skipped = CanaryOutputs(
                skipped=reason, outcome="skipped", share=0.0, summary=f"skipped: {reason}"
            )
            _keep(ctx, skipped)
            return skipped
        return _Canary(ctx, config, earlier if resumed else None, resumed).run()

    def undo(self, ctx: StepContext) -> CanaryOutputs:
        zeroed = _zero(ctx)
        record = stored_record(ctx.store, ctx.env.name, ctx.deployment.id)
        base = record if record is not None else CanaryOutputs()
        outcome = base.outcome if base.outcome not in {None, "running"} else "stopped"
        done = base.model_copy(update={"share": 0.0, "outcome": outcome})
        _keep(ctx, done)
        return CanaryOutputs(
            share=0.0,
            served=done.served,
            failed=done.failed,
            outcome=outcome,
            summary=(
                "the canary's share is back to zero"
                if zeroed
                else "no traffic share to undo (the target cannot route one)"
            ),
        )


class _Canary:
    """One run of the canary's steps for a deployment."""

    def __init__(
        self,
        ctx: StepContext,
        config: CanaryConfig,
        earlier: CanaryOutputs | None,
        resumed: int,
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.slot = staging_slot(ctx)
        self.plan = config.plan()
        self.earlier = earlier
        self.resumed = resumed
        self.stickiness = Stickiness(config.stickiness)
        snapshot = ctx.output(SnapshotOutputs)
        self.baseline = (
            Baseline.from_dict(snapshot.baseline)
            if snapshot is not None and snapshot.baseline is not None
            else None
        )
        self.judge = CanaryJudge(ctx.env.analysis, self.baseline)
        router = ctx.target
        assert isinstance(router, SharesTraffic)  # _why_skip checked it
        self.router = router

    def run(self) -> CanaryOutputs:
        ctx = self.ctx
        choice = choose_provider(ctx.config, ctx.env, ctx.target)
        provider = choice.provider
        assert provider is not None  # _why_skip checked there is one
        try:
            return self._steps(provider)
        finally:
            provider.close()

    def _steps(self, provider: MetricsProvider) -> CanaryOutputs:
        ctx = self.ctx
        earlier = self.earlier
        now = ctx.clock.now().timestamp()
        state = (
            CanaryState.from_dict(earlier.state)
            if earlier is not None and earlier.state
            else CanaryState.begin(now)
        )
        before = (earlier.steps or []) if earlier is not None else []
        steps = [
            s if s.ended_at is not None else s.model_copy(update=CUT_OFF | {"ended_at": now})
            for s in before
        ]
        if earlier is not None and earlier.outcome == "regressed" and earlier.verdict:
            # Decided before the interruption: a rejection is final.
            decided = Verdict.from_dict(earlier.verdict)
            self._regressed(self._record(state, steps, decided, 0.0, "regressed"), decided)
        live = ctx.target.slots().get(PRODUCTION)
        side = SideBySide(
            provider,
            self.judge,
            canary_slot=self.slot,
            canary_version=ctx.deployment.version,
            production_slot=PRODUCTION,
            production_version=live.version if live is not None else None,
        )
        # Steps that passed before an interruption stay passed; the one cut off runs again.
        first = sum(1 for s in steps if s.outcome == "passed")
        verdict: Verdict | None = None
        for planned in self.plan[first:]:
            served = blast_radius(state.canary)["served"]
            begun = CanaryStepRecord(
                share=planned.share,
                started_at=ctx.clock.now().timestamp(),
                needed_seconds=planned.seconds,
                needed_requests=planned.requests,
            )
            steps.append(begun)
            # Journaled before it is applied: after a crash the record says what may be routed.
            _keep(ctx, self._record(state, steps, verdict, planned.share, "running"))
            self.router.route_share(
                TrafficShare(self.slot, planned.share, self.stickiness, self.config.sticky_name)
            )
            ctx.progress(
                f"canary: {planned.share:g} % of new clients to slot {self.slot}"
                f" ({ctx.deployment.version}) for at least {planned.seconds:g} s and"
                f" {planned.requests} requests, judged side by side with production"
            )
            verdict, outcome = self._judge_step(side, state, steps, planned, served)
            if outcome == "regressed":
                _zero(ctx)
                self._regressed(self._record(state, steps, verdict, 0.0, "regressed"), verdict)
            if outcome == "short":
                _zero(ctx)
                done = self._record(state, steps, verdict, 0.0, "short")
                summary = (
                    f"canary ended short at {planned.share:g} %: {steps[-1].requests} of"
                    f" {planned.requests} requests in {planned.max_seconds:g} s; no regression"
                    f" in {done.served} user requests ({done.failed} failed); the swap decides"
                )
                return self._finish(done, summary)
        _zero(ctx)
        done = self._record(state, steps, verdict, 0.0, "passed")
        shares = ", ".join(f"{s:g} %" for s in self.config.steps)
        judged = verdict.summary if verdict is not None else "no verdict"
        summary = (
            f"canary passed at {shares}: {done.served} user requests on {ctx.deployment.version}"
            f" ({done.failed} failed), no regression side by side with production ({judged})"
        )
        return self._finish(done, summary)

    def _judge_step(
        self,
        side: SideBySide,
        state: CanaryState,
        steps: list[CanaryStepRecord],
        planned: ShareStep,
        served_before: int,
    ) -> tuple[Verdict, str]:
        """Fold and judge until the step's needs are met, it regresses or it runs out."""
        ctx = self.ctx
        interval = ctx.env.analysis.poll_interval
        begun = steps[-1].started_at
        while True:
            ctx.clock.sleep(interval)
            now = ctx.clock.now().timestamp()
            side.fold(state, now)
            verdict = self.judge.judge(state, elapsed=now - state.start)
            radius = blast_radius(state.canary)
            served = radius["served"] - served_before
            ran = now - begun
            steps[-1] = steps[-1].model_copy(
                update={
                    "requests": served,
                    "failed": radius["failed"] - sum(s.failed for s in steps[:-1]),
                }
            )
            if verdict.kind is VerdictKind.FAIL:
                outcome = "regressed"
            elif ran >= planned.seconds and served >= planned.requests:
                outcome = "passed"
            elif ran >= planned.max_seconds:
                outcome = "short"
            else:
                _keep(ctx, self._record(state, steps, verdict, planned.share, "running"))
                ctx.progress(
                    f"canary {planned.share:g} %: {served} requests on the new version in"
                    f" {ran:.0f} s, {radius['failed']} failed in all; {verdict.summary}"
                )
                continue
            steps[-1] = steps[-1].model_copy(update={"ended_at": now, "outcome": outcome})
            return verdict, outcome

    def _record(
        self,
        state: CanaryState,
        steps: list[CanaryStepRecord],
        verdict: Verdict | None,
        share: float,
        outcome: str,
    ) -> CanaryOutputs:
        radius = blast_radius(state.canary)
        return CanaryOutputs(
            slot=self.slot,
            shares=list(self.config.steps),
            share=share,
            stickiness=self.stickiness.value,
            steps=list(steps),
            verdict=verdict.to_dict() if verdict is not None else None,
            state=state.to_dict(),
            served=radius["served"],
            failed=radius["failed"],
            outcome=outcome,
            resumed=self.resumed or None,
        )

    def _finish(self, done: CanaryOutputs, summary: str) -> CanaryOutputs:
        final = done.model_copy(update={"summary": summary})
        _keep(self.ctx, final)
        return final

    def _regressed(self, done: CanaryOutputs, verdict: Verdict) -> None:
        ctx = self.ctx
        live = ctx.target.slots().get(PRODUCTION)
        share = done.steps[-1].share if done.steps else 0.0
        message = (
            f"canary regressed at {share:g} % of traffic: {verdict.summary}; the share is"
            f" back to zero and production stays on {live.version if live else 'its version'}"
            f" (the new version served {done.served} user requests, {done.failed} failed)"
        )
        final = done.model_copy(update={"summary": message})
        _keep(ctx, final)
        raise StepError(message, details=final.journal())


def _why_skip(ctx: StepContext) -> str | None:
    """Why this deployment gets no canary (None: it does)."""
    target = ctx.target
    if not can_share_traffic(target):
        return (
            f"the {ctx.env.target.kind} target cannot route a share of production's"
            " traffic; the swap moves all of it at once"
        )
    marked = incompatible_migrations(ctx)
    if marked:
        return (
            f"the release's migrations {', '.join(marked)} are marked not backward"
            " compatible: the old version cannot serve beside the new one"
        )
    live = target.slots().get(PRODUCTION)
    if live is None or live.version is None:
        return "production runs no version yet: there is nothing to compare the canary with"
    choice = choose_provider(ctx.config, ctx.env, target)
    if choice.provider is None:
        return f"the canary cannot be judged: {choice.note}"
    choice.provider.close()
    return None


def incompatible_migrations(ctx: StepContext) -> list[str]:
    """The migrations this deployment applied that are marked not backward compatible."""
    migrated = ctx.output(MigrateOutputs)
    if migrated is None or not migrated.applied or migrated.tool is not None:
        return []
    from turnout.database.compatibility import incompatible
    from turnout.runbook.steps.database import release_migrations, service

    applied = set(migrated.applied)
    loaded = release_migrations(ctx, service(ctx))
    return incompatible(m for m in loaded.migrations if m.version in applied)


def _zero(ctx: StepContext) -> bool:
    """Send all of production's traffic to production; whether the target could route one."""
    target = ctx.target
    if not can_share_traffic(target):
        return False
    assert isinstance(target, SharesTraffic)
    target.route_share(NO_SHARE)
    return True


def _keep(ctx: StepContext, record: CanaryOutputs) -> None:
    keep_record(ctx.store, ctx.env.name, ctx.deployment.id, record)
