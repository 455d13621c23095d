"""Phase 1.4: the pre-deployment snapshot: live versions, slot states, metrics baseline."""

from __future__ import annotations

from typing import Any

from turnout.analysis.baseline import measure_baseline
from turnout.analysis.provider import choose_provider
from turnout.errors import IntegrationError
from turnout.model import StepStatus
from turnout.runbook.outputs import SnapshotOutputs, SwapOutputs
from turnout.runbook.step import Step, StepContext
from turnout.store.deployment_data import SnapshotRecord
from turnout.targets.protocol import PRODUCTION, PlatformChecks

DRAIN_MARGIN = 1.0
"""Seconds after a swap still served partly by the old slot (requests in flight)."""


def production_changed_at(ctx: StepContext) -> float | None:
    """Unix time of the newest change of production's version recorded by turnout."""
    moments: list[float] = []
    for row in ctx.store.deployments(ctx.env.name, limit=20):
        if row.id == ctx.deployment.id:
            continue
        for step in ctx.store.steps(row.id):
            if step.name != SwapOutputs.step:
                continue
            swap = SwapOutputs.from_journal(step.outputs or {})
            if swap is not None and swap.swapped_at is not None:
                moments.append(swap.swapped_at)
            if (
                step.status in {StepStatus.UNDONE, StepStatus.UNDOING, StepStatus.UNDO_FAILED}
                and step.finished_at
            ):
                moments.append(step.finished_at.timestamp())
    moments.extend(
        row.at.timestamp()
        for row in ctx.store.audit_log(ctx.env.name, limit=200)
        if row.action in {"rollback", "watch.rollback"}
    )
    return max(moments) if moments else None


class SnapshotStep(Step):
    """Record what runs where and how the live version behaves, before anything changes."""

    name = "snapshot"
    changes_production = False
    phase = "pre-deployment"

    def run(self, ctx: StepContext) -> SnapshotOutputs:
        slots = ctx.target.slots()
        live = slots.get(PRODUCTION)
        production_version = live.version if live else None
        platform = (
            ctx.target.platform_snapshot() if isinstance(ctx.target, PlatformChecks) else None
        )
        now = ctx.clock.now().timestamp()
        # Only the live version's own traffic is its baseline: never reach back past the
        # moment production last changed (a swap, a swap back, a rollback).
        changed = production_changed_at(ctx)
        lookback = ctx.env.analysis.baseline_lookback
        if changed is not None and now - changed < lookback:
            lookback = max(now - changed - DRAIN_MARGIN, 0.0)
        choice = choose_provider(ctx.config, ctx.env, ctx.target)
        baseline: dict[str, Any] | None = None
        if choice.provider is None:
            note = choice.note
        else:
            ctx.progress(f"measuring the baseline over the last {lookback:g} s ({choice.note})")
            try:
                measured = measure_baseline(choice.provider, PRODUCTION, now, lookback)
            except IntegrationError as exc:
                # No baseline is not a reason to stop: the absolute limits still apply.
                note = f"baseline unavailable ({exc.message}): absolute limits only"
            else:
                baseline = measured.to_dict()
                trusted = measured.trusted(ctx.env.analysis.baseline_min_requests)
                note = _describe(baseline, lookback)
                if not trusted:
                    note += (
                        f"; fewer than {ctx.env.analysis.baseline_min_requests} requests:"
                        " absolute limits only"
                    )
                baseline["trusted"] = trusted
            finally:
                choice.provider.close()
        ctx.store.update_deployment_data(
            ctx.deployment.id,
            snapshot=SnapshotRecord(
                production_version=production_version,
                baseline=_without_histogram(baseline),
                metrics=note,
            ),
        )
        outputs = SnapshotOutputs(
            slots={
                name: {"version": s.version, "state": s.state, "url": s.url}
                for name, s in sorted(slots.items())
            },
            production_version=production_version,
            baseline=baseline,
            metrics=note,
            summary=f"production runs {production_version or 'nothing'}; {note}",
        )
        if platform is None:
            return outputs
        # Only targets that report platform settings journal the key at all.
        return SnapshotOutputs(**outputs.model_dump(exclude_unset=True), platform=platform)


def _describe(baseline: dict[str, Any], lookback: float) -> str:
    rate = baseline.get("error_rate")
    p95 = baseline.get("p95_ms")
    return (
        f"baseline over {min(lookback, baseline['until'] - baseline['since']):.0f} s:"
        f" {baseline['requests']} requests,"
        f" errors {'n/a' if rate is None else f'{rate:.3%}'},"
        f" p95 {'n/a' if p95 is None else f'{p95:.0f} ms'},"
        f" {baseline['throughput_rps']:.1f} req/s"
    )


def _without_histogram(baseline: dict[str, Any] | None) -> dict[str, Any] | None:
    if baseline is None:
        return None
    return {k: v for k, v in baseline.items() if k != "latency"}
