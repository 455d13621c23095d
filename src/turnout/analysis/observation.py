"""One observation of production from the swap on, as `verify` and `watch` both run it.

The judge (limits from the baseline), the analysis state (carried on when it belongs to
the same swap, so the false-rollback bound covers verification and watch together), the
watcher that polls the metrics provider, and the verification traffic that tops up the
evidence (`analysis.probe`): set up here once, so the two judge by the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turnout.analysis.baseline import Baseline
from turnout.analysis.judge import Judge
from turnout.analysis.probe import Prober, ProbeRate, probe_requests, stop_and_record
from turnout.analysis.provider import MetricsProvider, by_version
from turnout.analysis.watch import Watcher, WatchResult, WatchState, state_key
from turnout.clock import Clock
from turnout.config import EnvironmentConfig
from turnout.store import Store
from turnout.targets.protocol import PRODUCTION, Target


class Observation:
    """Production's traffic judged for one deployment, from its swap on."""

    def __init__(
        self,
        env: EnvironmentConfig,
        store: Store,
        clock: Clock,
        target: Target,
        provider: MetricsProvider,
        *,
        deployment_id: int | str,
        version: str,
        swapped_at: float,
        emergency: bool,
        baseline: Baseline | None,
        phase: str,
        progress: Callable[[str], None] = lambda _m: None,
    ) -> None:
        analysis = env.analysis
        self.env = env
        self.target = target
        self.deployment_id = deployment_id
        self.phase = phase
        self.baseline = baseline
        self.window = analysis.emergency_watch_for if emergency else analysis.watch_for
        """How long after the swap a regression still rolls back."""
        self.judge = Judge(analysis, baseline)
        key = state_key(env.name, deployment_id)
        stored = store.get(key)
        state = WatchState.from_dict(stored) if stored else None
        self.continued = state is not None and state.swapped_at == float(swapped_at)
        """Whether an earlier run's analysis of this same swap goes on (same totals)."""
        if state is None or not self.continued:
            state = WatchState.begin(
                PRODUCTION,
                float(swapped_at),
                analysis.warmup_exclude,
                horizon=self.window,
                every=analysis.restart_every,
                version=version if by_version(provider) else None,
            )
        self.state = state
        self.store = store
        self.watcher = Watcher(
            provider,
            self.judge,
            clock,
            state,
            store=store,
            key=key,
            progress=progress,
            phase=phase,
        )
        self.probe_batch: dict[str, Any] | None = None
        """The verification traffic's record once `run` has ended (None without probes)."""

    @property
    def probes(self) -> bool:
        """Whether verification traffic tops up the evidence."""
        return self.env.analysis.probe.mode != "off"

    def run(
        self,
        *,
        deadline: float,
        stop_on_pass: bool,
        hold: Callable[[], str | None] = lambda: None,
        keep_going: Callable[[], str | None] = lambda: None,
    ) -> WatchResult:
        """Watch until a decision or the deadline, with verification traffic while it runs."""
        prober, rate = self._start_probes()
        try:
            return self.watcher.run(
                deadline=deadline,
                stop_on_pass=stop_on_pass,
                poll_interval=self.env.analysis.poll_interval,
                hold=hold,
                keep_going=keep_going,
                observe=rate if rate is not None else (lambda _v: None),
            )
        finally:
            self.probe_batch = stop_and_record(prober, rate)
            self._record_series()

    def _record_series(self) -> None:
        # The looks go with the deployment, so its evidence can be drawn once the analysis
        # record of the swap is replaced (a deployment id that is not a row's has none).
        if isinstance(self.deployment_id, int) or str(self.deployment_id).isdigit():
            self.store.update_deployment_data(
                int(self.deployment_id), analysis_series=self.state.samples
            )

    def _start_probes(self) -> tuple[Prober | None, ProbeRate | None]:
        # auto: probes only while the evidence for a healthy verdict is short of what the
        # limits need; the rate follows the live traffic.
        settings = self.env.analysis.probe
        if not self.probes:
            return None, None
        prober = Prober(
            self.target.production_url(),
            probe_requests(self.env),
            settings,
            deployment=str(self.deployment_id),
            phase=self.phase,
            transport=self.target.transport(),
        )
        rate = ProbeRate(
            prober,
            settings,
            self.judge,
            live_rate_hint=self.baseline.throughput_rps if self.baseline is not None else 0.0,
        )
        prober.start(rps=0.0)
        return prober, rate
