"""Phase 5: post-deployment validation after the swap.

In order: the health checks on production; the E2E command (started at once,
with TURNOUT_URL set, and run while the metrics are judged); the metric
analysis from the swap on; then the business checks.

What it raises, and what the engine does with it:

- StepError (details = the evidence): a health check, the E2E command, the
  metric analysis (regression) or a business check said the release is bad.
  The engine compensates: the swap step's undo swaps back, and it exits 4.
- NeedsPerson: the analysis could not decide within `max_observation` (too
  little traffic even with the probes, metrics unavailable) and the
  environment's `analysis.undecided` is "hold" (the default), or a business
  check could not read its number. Nothing is rolled back for lack of data; the
  deployment stops with exit 5 and `turnout status` names `accept`, `watch`
  and `rollback`. With `undecided = "accept"` the release is kept and recorded
  as accepted unproven; with "rollback" a StepError swaps it back.

While the metrics are judged, verification traffic (analysis.probe.py) fills
the shortfall of live traffic on production; its batch is kept with the
outputs. Whatever the outcome, the checks, the E2E result and the probe
batches are recorded with the deployment (`verification` in its data).

A verify that was interrupted (the process killed, a CI job timed out) and is
run again by `turnout resume` carries on with the totals its analysis record
holds (the same sequential test from the swap on) and watches for a whole
`max_observation` again from the resume; a regression it had already declared
stands.

With a target that counts no traffic (the fake target) and `provider =
"router"`, or with `provider = "none"`, the analysis is reported as "not
measured" and verification rests on the checks alone: never a pass it did
not measure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, NoReturn

from turnout.analysis.baseline import Baseline
from turnout.analysis.business import BusinessResult, run_business_check
from turnout.analysis.judge import headline
from turnout.analysis.observation import Observation
from turnout.analysis.prometheus import PrometheusClient
from turnout.analysis.provider import choose_provider
from turnout.analysis.series import BEFORE_SWAP_S, traffic_series
from turnout.analysis.watch import observation_deadline
from turnout.childenv import child_environment
from turnout.errors import NeedsPerson, StepError, TurnoutError
from turnout.model import Verdict, VerdictKind
from turnout.runbook.e2e_logs import new_e2e_log
from turnout.runbook.http_checks import CheckResult, failures, run_checks
from turnout.runbook.outputs import SnapshotOutputs, SwapOutputs, VerifyOutputs
from turnout.runbook.step import Step, StepContext
from turnout.store.deployment_data import TrafficPoint, VerificationRecord
from turnout.targets.protocol import PRODUCTION

HEALTH_ATTEMPTS = 3
HEALTH_RETRY_SECONDS = 1.0
OUTPUT_LIMIT = 4000


class VerifyStep(Step):
    """Health checks, the E2E command, the metric analysis and business checks."""

    name = "verify"
    phase = "validation"

    def observe(self, ctx: StepContext) -> VerifyOutputs | None:
        # A verification that passed before a crash is not repeated while the same
        # version is still live.
        recorded = ctx.store.get(_outputs_key(ctx))
        live = ctx.target.slots().get(PRODUCTION)
        if recorded and live is not None and live.version == ctx.deployment.version:
            return VerifyOutputs.from_journal(recorded)
        return None

    def run(self, ctx: StepContext) -> VerifyOutputs:
        outputs: dict[str, Any] = {}
        series: list[TrafficPoint] = []
        try:
            outputs["checks"] = [r.to_dict() for r in _health(ctx)]
            e2e = _E2E.start(ctx)
            try:
                outputs["analysis"] = _analyse(ctx, e2e, outputs, series)
                if e2e is not None:
                    outputs["e2e"] = e2e.finish(outputs)
            finally:
                if e2e is not None:
                    e2e.close()
            outputs["business"] = _business(ctx, outputs)
        except TurnoutError as exc:
            # Passed, failed or held: what was measured stays with the deployment.
            _keep(ctx, {**outputs, **(exc.details or {})}, exc.message, series)
            raise
        outputs["proven"] = outputs["analysis"].get("status") == VerdictKind.PASS.value
        outputs["summary"] = _summary(outputs)
        _keep(ctx, outputs, outputs["summary"], series)
        ctx.store.put(_outputs_key(ctx), outputs)
        return VerifyOutputs.model_validate(outputs)


def _keep(
    ctx: StepContext, outputs: dict[str, Any], summary: str, series: list[TrafficPoint]
) -> None:
    """Record the verification with the deployment: its verdict in short, whether the
    release was proven healthy, every piece of evidence (checks, E2E, probe batches) and
    production's traffic around the swap."""
    analysis = outputs.get("analysis") if isinstance(outputs.get("analysis"), dict) else {}
    assert isinstance(analysis, dict)
    ctx.store.update_deployment_data(
        ctx.deployment.id,
        verification=VerificationRecord(
            analysis={k: v for k, v in analysis.items() if k in {"status", "summary"}},
            proven=analysis.get("status") == VerdictKind.PASS.value,
            summary=summary,
            evidence={
                "checks": outputs.get("checks"),
                "e2e": outputs.get("e2e"),
                "probes": analysis.get("probes", outputs.get("probes")),
            },
            series=tuple(series),
        ),
    )


def _outputs_key(ctx: StepContext) -> str:
    return f"verify:{ctx.env.name}:{ctx.deployment.id}"


# -- health checks --------------------------------------------------------------------
def _health(ctx: StepContext) -> list[CheckResult]:
    checks = ctx.env.checks.health
    if not checks:
        return []
    url = ctx.target.production_url()
    results: list[CheckResult] = []
    with ctx.http_client() as client:
        for attempt in range(1, HEALTH_ATTEMPTS + 1):
            results = run_checks(client, url, checks, version=ctx.deployment.version)
            if not failures(results):
                return results
            if attempt < HEALTH_ATTEMPTS:
                # A request can fail in the instant of a swap; a real failure persists.
                ctx.clock.sleep(HEALTH_RETRY_SECONDS)
    problem = failures(results)
    raise StepError(
        f"health checks on production failed: {problem}",
        details={"checks": [r.to_dict() for r in results]},
    )


# -- the E2E command ------------------------------------------------------------------
class _E2E:
    """The configured E2E command, running in the background while metrics are judged."""

    def __init__(
        self, command: str, process: subprocess.Popen[bytes], log: Path, timeout: float
    ) -> None:
        self.command = command
        self.process = process
        self.log = log
        self.timeout = timeout
        self.killed = False
        # The command runs in real time, whatever clock judges the metrics.
        self.started = time.monotonic()

    @classmethod
    def start(cls, ctx: StepContext) -> _E2E | None:
        command = ctx.env.checks.e2e_command
        if not command:
            return None
        fd, name = new_e2e_log(ctx.config.state_dir)
        env = child_environment(
            {"TURNOUT_URL": ctx.target.production_url()}, passed=ctx.env.checks.e2e_pass_env
        )
        ctx.progress(f"running the E2E command: {command}")
        with os.fdopen(fd, "wb") as log:
            process = subprocess.Popen(
                command,
                shell=True,
                cwd=ctx.config.base_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(command, process, Path(name), ctx.env.checks.e2e_timeout)

    def pending(self) -> str | None:
        """None once finished; otherwise why to wait. Kills it at its timeout."""
        if self.process.poll() is not None:
            return None
        if time.monotonic() - self.started > self.timeout:
            self.kill()
            return None
        return "the E2E command is still running"

    def failed_early(self) -> bool:
        """Whether it already finished with a non-zero exit."""
        code = self.process.poll()
        return code is not None and code != 0

    def result(self) -> dict[str, Any]:
        """Exit code, duration and the tail of its output (JSON-ready)."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        if len(text) > OUTPUT_LIMIT:
            text = "...\n" + text[-OUTPUT_LIMIT:]
        return {
            "command": self.command,
            "exit_code": self.process.poll(),
            "timed_out": self.killed,
            "seconds": round(time.monotonic() - self.started, 1),
            "output": text,
        }

    def finish(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """Wait for the command; a non-zero exit fails verification."""
        while self.pending() is not None:
            time.sleep(0.05)
        result = self.result()
        if result["exit_code"] != 0:
            why = "timed out" if result["timed_out"] else f"exited with {result['exit_code']}"
            raise StepError(
                f"E2E command {why}: {self.command}", details={**outputs, "e2e": result}
            )
        return result

    def kill(self) -> None:
        """Stop it (and its children) if still running; remove the log."""
        if self.process.poll() is None:
            self.killed = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def close(self) -> None:
        """Kill if needed and delete the output file (its tail is in the outputs)."""
        self.kill()
        with contextlib.suppress(OSError):
            self.log.unlink()


# -- the metric analysis --------------------------------------------------------------
def _analyse(
    ctx: StepContext, e2e: _E2E | None, outputs: dict[str, Any], series: list[TrafficPoint]
) -> dict[str, Any]:
    analysis = ctx.env.analysis
    choice = choose_provider(ctx.config, ctx.env, ctx.target)
    if choice.provider is None:
        # Never a pass it did not measure: kept, and said plainly to be unproven.
        return {
            "status": "not measured",
            "summary": f"not measured: {choice.note}; not proven healthy",
        }
    provider = choice.provider
    try:
        swap = ctx.output(SwapOutputs)
        now = ctx.clock.now().timestamp()
        swapped_at = swap.swapped_at if swap is not None else None
        if swapped_at is None:
            swapped_at = now  # no swap time recorded: judge from now on
        snapshot = ctx.output(SnapshotOutputs)
        baseline = (
            Baseline.from_dict(snapshot.baseline)
            if snapshot is not None and snapshot.baseline is not None
            else None
        )
        observation = Observation(
            ctx.env,
            ctx.store,
            ctx.clock,
            ctx.target,
            provider,
            deployment_id=ctx.deployment.id,
            version=ctx.deployment.version,
            swapped_at=float(swapped_at),
            emergency=ctx.deployment.emergency,
            baseline=baseline,
            phase="after-swap",
            progress=ctx.progress,
        )
        state, judge = observation.state, observation.judge
        if observation.continued and state.status == "regressed" and state.verdict:
            # A run that was stopped after its test crossed: a rejection is final.
            _failed(Verdict.from_dict(state.verdict), outputs, choice.note)
        elif observation.continued:
            # Resumed (after a crash, a timeout or a hold): the same test goes on.
            state.status = "watching"
        # A resumed run watches for a whole max_observation again, with the same totals.
        deadline = observation_deadline(state.start, now, analysis.max_observation)
        ctx.progress(
            f"judging production traffic ({choice.note}); error limit"
            f" {judge.limits[0].p1:.3%}, latency limit {judge.latency_limit_ms:g} ms; about"
            f" {judge.requests_needed():,} requests prove it healthy"
            + (
                f" (probes: {analysis.probe.mode}, up to {analysis.probe.rate:g} rps)"
                if observation.probes
                else ""
            )
        )

        def hold() -> str | None:
            if e2e is None:
                return None
            if e2e.failed_early():
                raise StepError(
                    f"E2E command exited with {e2e.process.poll()}: {e2e.command}",
                    details={**outputs, "e2e": e2e.result()},
                )
            return e2e.pending()

        try:
            result = observation.run(deadline=deadline, stop_on_pass=True, hold=hold)
        finally:
            if observation.probe_batch is not None:
                outputs["probes"] = [observation.probe_batch]
            series.extend(
                traffic_series(
                    provider,
                    PRODUCTION,
                    float(swapped_at) - BEFORE_SWAP_S,
                    ctx.clock.now().timestamp(),
                )
            )
    finally:
        provider.close()
    verdict = result.verdict
    record = {"status": verdict.kind.value, **verdict.to_dict(), "provider": choice.note}
    if "probes" in outputs:
        record["probes"] = outputs["probes"]
    if verdict.kind is VerdictKind.FAIL:
        _failed(verdict, outputs, choice.note)
    if verdict.kind is not VerdictKind.PASS:
        return _undecided(ctx, verdict, record, e2e, outputs)
    return record


def _undecided(
    ctx: StepContext,
    verdict: Verdict,
    record: dict[str, Any],
    e2e: _E2E | None,
    outputs: dict[str, Any],
) -> dict[str, Any]:
    """The environment's policy for a verification that could not decide in time."""
    analysis = ctx.env.analysis
    env = ctx.env.name
    if e2e is not None:
        # The E2E command's result is part of what a person decides on; a failure fails.
        outputs["e2e"] = e2e.finish(outputs)
    measured = _measured_text(verdict)
    unproven = (
        f"not proven healthy: the metric analysis could not decide within"
        f" {analysis.max_observation:g} s ({verdict.summary}); {measured}"
    )
    details = {**headline(verdict), **outputs, "analysis": record}
    if analysis.undecided == "accept":
        ctx.progress(f"accepted unproven (analysis.undecided = 'accept'): {unproven}")
        return {
            **record,
            "status": "accepted-unproven",
            "summary": f"accepted unproven ({unproven})",
            "policy": "accept",
        }
    if analysis.undecided == "rollback":
        raise StepError(f"{unproven}; analysis.undecided = 'rollback' swaps back", details=details)
    raise NeedsPerson(
        f"{unproven}; production stays on {ctx.deployment.version}. Keep it with"
        f" `turnout accept --env {env} --reason TEXT`, keep judging it with"
        f" `turnout watch --env {env}`, or go back with `turnout rollback --env {env}`",
        details=details,
    )


def _measured_text(verdict: Verdict) -> str:
    """What was and was not measured, in one phrase (the reasons list the rest)."""
    ev = verdict.evidence
    count = int(ev.get("requests") or 0)
    probes = int(ev.get("probe_requests") or 0)
    text = f"measured {count} requests ({probes} of them probes)"
    if ev.get("metrics_error"):
        text += f"; metrics unavailable: {ev['metrics_error']}"
    return text


def _failed(verdict: Verdict, outputs: dict[str, Any], provider: str) -> NoReturn:
    record = {"status": verdict.kind.value, **verdict.to_dict(), "provider": provider}
    raise StepError(
        f"metric analysis: {verdict.summary}",
        details={**headline(verdict), **outputs, "analysis": record},
    )


# -- business checks ------------------------------------------------------------------
def _business(ctx: StepContext, outputs: dict[str, Any]) -> list[dict[str, Any]]:
    checks = ctx.env.analysis.business
    if not checks:
        return []
    settings = ctx.env.analysis.prometheus
    prometheus = PrometheusClient(settings, config_file=str(ctx.config.path)) if settings else None
    results: list[BusinessResult] = []
    try:
        with ctx.http_client() as client:
            for check in checks:
                results.append(
                    run_business_check(
                        check,
                        prometheus=prometheus,
                        client=client,
                        production_url=ctx.target.production_url(),
                        substitutions={"slot": PRODUCTION, "env": ctx.env.name},
                    )
                )
    finally:
        if prometheus is not None:
            prometheus.close()
    records = [r.to_dict() for r in results]
    bad = [r for r in results if r.ok is False]
    if bad:
        raise StepError(
            "business checks failed: " + "; ".join(f"{r.name}: {r.problem}" for r in bad),
            details={**outputs, "business": records},
        )
    unknown = [r for r in results if r.ok is None]
    if unknown:
        raise NeedsPerson(
            "business checks could not be read: "
            + "; ".join(f"{r.name}: {r.problem}" for r in unknown)
            + f"; production stays on {ctx.deployment.version}",
            details={**outputs, "business": records},
        )
    return records


def _summary(outputs: dict[str, Any]) -> str:
    parts = []
    if outputs.get("checks"):
        parts.append(f"{len(outputs['checks'])} health checks passed")
    if "e2e" in outputs:
        parts.append("E2E passed")
    analysis = outputs.get("analysis", {})
    parts.append(str(analysis.get("summary", "")))
    if outputs.get("business"):
        parts.append(f"{len(outputs['business'])} business checks passed")
    return "; ".join(p for p in parts if p)
