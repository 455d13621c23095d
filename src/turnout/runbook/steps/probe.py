"""Verification traffic on the staging slot before the swap: a broken release is caught before
it takes any traffic.

For at most `analysis.probe.before_swap` seconds the prober sends the
configured requests to the staging slot's own URL at the rate cap (nobody else
sends it anything), and the judge reads what the prober measured. A regression
fails the step: the engine compensates (nothing was swapped) and exits 4. A
healthy or still undecided verdict lets the deployment go on to the swap,
where `verify` judges production's traffic; the batch and the verdict are kept
with the deployment either way.
"""

from __future__ import annotations

from turnout.analysis.baseline import Baseline
from turnout.analysis.judge import Judge, headline
from turnout.analysis.probe import Prober, ProberProvider, probe_requests, stop_and_record
from turnout.analysis.watch import Watcher, WatchState
from turnout.errors import StepError
from turnout.model import VerdictKind
from turnout.runbook.outputs import ProbeOutputs, SnapshotOutputs
from turnout.runbook.step import Step, StepContext
from turnout.runbook.steps.stage import staging_slot
from turnout.runbook.steps.warmup import slot_url


class ProbeStep(Step):
    """Judge the staging slot on verification traffic before any traffic moves."""

    name = "probe"
    phase = "application"

    def run(self, ctx: StepContext) -> ProbeOutputs:
        analysis = ctx.env.analysis
        settings = analysis.probe
        slot = staging_slot(ctx)
        url = slot_url(ctx, slot)
        snapshot = ctx.output(SnapshotOutputs)
        baseline = (
            Baseline.from_dict(snapshot.baseline)
            if snapshot is not None and snapshot.baseline is not None
            else None
        )
        judge = Judge(analysis, baseline)
        prober = Prober(
            url,
            probe_requests(ctx.env),
            settings,
            deployment=str(ctx.deployment.id),
            phase="before-swap",
            transport=ctx.target.transport(),
            clock=lambda: ctx.clock.now().timestamp(),
        )
        started = ctx.clock.now().timestamp()
        state = WatchState.begin(slot, started, 0.0)
        watcher = Watcher(ProberProvider(prober), judge, ctx.clock, state, progress=ctx.progress)
        ctx.progress(
            f"probing slot {slot} ({url}) for up to {settings.before_swap:g} s at"
            f" {settings.rate:g} rps before the swap"
        )
        prober.start()
        try:
            result = watcher.run(
                deadline=started + settings.before_swap,
                stop_on_pass=True,
                poll_interval=analysis.poll_interval,
            )
        finally:
            batch = stop_and_record(prober)
        verdict = result.verdict
        outputs = ProbeOutputs(slot=slot, url=url, verdict=verdict.to_dict(), probes=[batch])
        if verdict.kind is VerdictKind.FAIL:
            raise StepError(
                f"verification traffic on slot {slot} before the swap: {verdict.summary}",
                details={**headline(verdict), **outputs.journal()},
            )
        if verdict.kind is VerdictKind.PASS:
            summary = f"slot {slot} {verdict.summary}"
        else:
            summary = (
                f"slot {slot}: no regression in {settings.before_swap:g} s of probes"
                f" ({verdict.summary}); production traffic decides after the swap"
            )
        return ProbeOutputs(
            slot=slot, url=url, verdict=verdict.to_dict(), probes=[batch], summary=summary
        )
