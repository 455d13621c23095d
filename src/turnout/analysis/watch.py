"""The observation loop used by `verify` and by `turnout watch`.

It polls the metrics provider every `poll_interval` seconds (on the injectable
clock), folds buckets that are final into running totals, and asks the judge
after every look, so a regression is acted on as soon as the evidence allows.
Its state (totals, how far they reach, decisions) is a small JSON record kept
with `store.put`: `turnout watch` can be stopped and started again and carries
on with the same totals, which also keeps the false-rollback bound: the whole
watch, from the swap to the end of the rollback window, is one sequential test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from turnout.analysis.judge import Judge
from turnout.analysis.provider import MetricsProvider, VersionedProvider
from turnout.errors import IntegrationError
from turnout.model import Verdict, VerdictKind
from turnout.store.deployment_data import AnalysisSample, read_samples
from turnout.traffic import SecondBucket, merge

if TYPE_CHECKING:
    from turnout.clock import Clock
    from turnout.store import Store


REPORT_EVERY = 5.0
SAVE_EVERY = 5.0
MAX_SAMPLES = 600
"""Looks kept for drawing the evidence; past this every other older one is dropped."""
LATER_SHARE = 0.1
"""Share of alpha given to the later start points (the rest goes to the start at the swap)."""


def state_key(environment: str, deployment_id: str | int) -> str:
    """Key of a deployment's analysis record in the store."""
    return f"analysis:{environment}:{deployment_id}"


def observation_deadline(start: float, began: float, max_observation: float) -> float:
    """When a run of `verify` stops waiting for a decision: `max_observation` seconds after
    it began to watch, or after the judged traffic starts (`start`, the swap plus the
    excluded warm-up) if that is later.

    A run resumed after a crash or a hold therefore watches for a whole
    `max_observation` again, carrying on with the totals it had. That keeps the
    false-rollback bound: every statistic is anytime-valid (Ville's inequality holds
    over an unlimited horizon and any stopping rule), so watching longer spends no
    more alpha. Restarting the test from the resume would be the unsound choice: each
    fresh test would spend its own alpha.
    """
    return max(start, began) + max_observation


@dataclass
class WatchState:
    """What the loop knows; JSON round-trips through to_dict/from_dict."""

    slot: str
    swapped_at: float
    start: float
    """Judged traffic starts here (the swap plus the excluded warm-up)."""
    folded_until: float
    """Buckets that start before this are final and included in `totals`."""
    totals: SecondBucket = field(default_factory=lambda: SecondBucket(second=0))
    status: str = "watching"
    """watching, passed (verify's verdict; watching may go on), regressed, inconclusive,
    rolled-back, ended."""
    healthy_at: float | None = None
    decided_at: float | None = None
    verdict: dict[str, Any] | None = None
    polls: int = 0
    last_error: str | None = None
    mark_every: float = 0.0
    marks: int = 0
    """Later start points planned (fixed at the start, so their weights are too)."""
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    """Totals at each later start point reached: {"at": unix time, "totals": bucket}."""
    version: str | None = None
    """Judge only what this version answered (providers that count by version): requests
    of the swap's own second are then attributed by who served them, not by a time cut."""
    samples: list[AnalysisSample] = field(default_factory=list)
    """The looks so far (totals, rates and statistics): every `sample_stride`-th look, and
    the newest one whatever its number."""
    sample_stride: int = 1
    looked: int = 0
    """How many looks `samples` has seen."""

    def add_sample(self, sample: AnalysisSample) -> None:
        """Keep one look. Past MAX_SAMPLES the stride doubles (every other kept look goes),
        so the series stays evenly spread from the swap on and bounded in size."""
        if self.samples and (self.looked - 1) % self.sample_stride:
            self.samples.pop()  # the newest was kept only for being the newest
        number = self.looked
        self.looked += 1
        self.samples.append(sample)
        if len(self.samples) > MAX_SAMPLES:
            newest_off = number % self.sample_stride != 0
            on_stride = self.samples[:-1] if newest_off else self.samples
            self.samples = on_stride[::2] + ([sample] if newest_off else [])
            self.sample_stride *= 2
            if not newest_off and number % self.sample_stride:
                self.samples.append(sample)

    @classmethod
    def begin(
        cls,
        slot: str,
        swapped_at: float,
        warmup_exclude: float,
        *,
        horizon: float = 0.0,
        every: float = 60.0,
        version: str | None = None,
    ) -> WatchState:
        """A fresh state for traffic after the swap and warm-up; later start points every
        `every` seconds over `horizon` seconds (the rollback window). With `version`, the
        whole second the judged traffic starts in is included: only that version's
        requests are read, so none of the old version's last ones is judged."""
        start = swapped_at + warmup_exclude
        if version is not None:
            start = float(math.floor(start))
        marks = math.ceil(horizon / every) if horizon > 0 and every > 0 else 0
        return cls(
            slot=slot,
            swapped_at=swapped_at,
            start=start,
            folded_until=start,
            mark_every=every if marks else 0.0,
            marks=marks,
            version=version,
        )

    def later_windows(self, current: SecondBucket) -> list[tuple[float, SecondBucket]]:
        """(weight, traffic since the start point) for every later start point reached."""
        if not self.marks:
            return []
        weight = LATER_SHARE / self.marks
        return [
            (weight, subtract(current, SecondBucket.from_dict(cp["totals"])))
            for cp in self.checkpoints
        ]

    @property
    def first_weight(self) -> float:
        """Weight of the start at the swap."""
        return 1.0 - LATER_SHARE if self.marks else 1.0

    def mark_until(self, t: float) -> None:
        """Record the totals at every planned start point up to time t."""
        while len(self.checkpoints) < self.marks:
            at = self.start + (len(self.checkpoints) + 1) * self.mark_every
            if at > t:
                return
            self.checkpoints.append({"at": at, "totals": self.totals.to_dict()})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "slot": self.slot,
            "swapped_at": self.swapped_at,
            "start": self.start,
            "folded_until": self.folded_until,
            "totals": self.totals.to_dict(),
            "status": self.status,
            "healthy_at": self.healthy_at,
            "decided_at": self.decided_at,
            "verdict": self.verdict,
            "polls": self.polls,
            "last_error": self.last_error,
            "mark_every": self.mark_every,
            "marks": self.marks,
            "checkpoints": list(self.checkpoints),
            "version": self.version,
            "samples": [sample.to_dict() for sample in self.samples],
            "sample_stride": self.sample_stride,
            "looked": self.looked,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WatchState:
        """Inverse of to_dict."""
        return cls(
            slot=str(data["slot"]),
            swapped_at=float(data["swapped_at"]),
            start=float(data["start"]),
            folded_until=float(data["folded_until"]),
            totals=SecondBucket.from_dict(data["totals"]),
            status=str(data.get("status", "watching")),
            healthy_at=data.get("healthy_at"),
            decided_at=data.get("decided_at"),
            verdict=data.get("verdict"),
            polls=int(data.get("polls", 0)),
            last_error=data.get("last_error"),
            mark_every=float(data.get("mark_every", 0.0)),
            marks=int(data.get("marks", 0)),
            checkpoints=list(data.get("checkpoints", [])),
            version=data.get("version"),
            samples=list(read_samples(data.get("samples"))),
            sample_stride=max(int(data.get("sample_stride", 1)), 1),
            looked=int(data.get("looked", 0)),
        )


@dataclass(frozen=True)
class WatchResult:
    """How a loop ended: its last verdict and the state it leaves."""

    verdict: Verdict
    state: WatchState
    reason: str
    """regressed, passed, max-observation, window-ended or stopped."""


class Watcher:
    """Polls a provider for one slot and judges the totals since `state.start`."""

    def __init__(
        self,
        provider: MetricsProvider,
        judge: Judge,
        clock: Clock,
        state: WatchState,
        *,
        store: Store | None = None,
        key: str | None = None,
        progress: Callable[[str], None] = lambda _m: None,
        phase: str = "",
    ) -> None:
        self.provider = provider
        self.phase = phase
        self.judge = judge
        self.clock = clock
        self.state = state
        self.store = store
        self.key = key
        self.progress = progress
        self._reported_at: float | None = None
        self._saved_at: float | None = None

    def save(self) -> None:
        """Persist the state (when a store and key were given)."""
        if self.store is not None and self.key is not None:
            self.store.put(self.key, self.state.to_dict())
            self._saved_at = self.clock.monotonic()

    def save_now_and_then(self) -> None:
        """Persist every few seconds while nothing is decided (each look need not write)."""
        if self._saved_at is None or self.clock.monotonic() - self._saved_at >= SAVE_EVERY:
            self.save()

    def observed(self, now: float) -> SecondBucket:
        """Totals since the start: final buckets are folded in, recent ones added on top."""
        state = self.state
        step, settle = self.provider.step, self.provider.settle
        if (
            state.version is not None
            and isinstance(self.provider, VersionedProvider)
            and self.provider.by_version
        ):
            fetched = self.provider.version_buckets(
                state.slot, state.version, state.folded_until, now
            )
        else:
            fetched = self.provider.buckets(state.slot, state.folded_until, now)
        cut = math.floor((now - settle) / step) * step
        judged = sorted((b for b in fetched if b.second >= state.start), key=lambda b: b.second)
        final = [b for b in judged if b.second + step <= cut + 1e-9]
        pending = [b for b in judged if b.second + step > cut + 1e-9]
        for bucket in final:
            state.mark_until(bucket.second)
            state.totals = merge([state.totals, bucket])
            state.totals.second = 0
        if cut > state.folded_until:
            state.mark_until(cut)
            state.folded_until = cut
        return merge([state.totals, *pending]) if pending else state.totals

    def poll(self) -> Verdict:
        """One look: fetch, fold, judge; the verdict carries when it was reached."""
        now = self.clock.now().timestamp()
        elapsed = max(now - self.state.start, 0.0)
        self.state.polls += 1
        try:
            totals = self.observed(now)
            self.state.last_error = None
        except IntegrationError as exc:
            # Missing metrics never roll back: the poll is inconclusive and says why.
            self.state.last_error = exc.message
            totals = self.state.totals
            verdict = self._judge(totals, elapsed)
            if verdict.kind is not VerdictKind.FAIL:
                verdict = Verdict(
                    VerdictKind.INCONCLUSIVE,
                    f"metrics unavailable: {exc.message}",
                    [f"metrics unavailable: {exc.message}", *verdict.reasons],
                    verdict.evidence,
                )
            return self._stamp(verdict, now)
        return self._stamp(self._judge(totals, elapsed), now)

    def _judge(self, totals: SecondBucket, elapsed: float) -> Verdict:
        return self.judge.judge(
            totals,
            elapsed=elapsed,
            later=self.state.later_windows(totals),
            first=self.state.first_weight,
        )

    def _stamp(self, verdict: Verdict, now: float) -> Verdict:
        evidence = dict(verdict.evidence)
        evidence.update(
            {
                "slot": self.state.slot,
                "window_start": self.state.start,
                "swapped_at": self.state.swapped_at,
                "at": now,
                "at_iso": datetime.fromtimestamp(now, UTC).isoformat(),
                "seconds_after_swap": round(now - self.state.swapped_at, 3),
                "provider": self.provider.name,
            }
        )
        if self.state.last_error:
            evidence["metrics_error"] = self.state.last_error
        if verdict.kind is VerdictKind.PASS and self.state.healthy_at is None:
            self.state.healthy_at = now
        if self.state.healthy_at is not None:
            evidence["healthy_at"] = self.state.healthy_at
        if verdict.kind is VerdictKind.FAIL:
            # The test crossed its threshold at this look (it is re-evaluated at every one).
            evidence["crossed_at"] = now
            evidence["crossed_at_iso"] = evidence["at_iso"]
            evidence["crossed_after_swap_s"] = evidence["seconds_after_swap"]
        sample = AnalysisSample.from_evidence(verdict.kind.value, evidence, self.phase)
        self.state.add_sample(sample)
        return replace(verdict, evidence=evidence)

    def run(
        self,
        *,
        deadline: float,
        stop_on_pass: bool,
        poll_interval: float,
        hold: Callable[[], str | None] = lambda: None,
        keep_going: Callable[[], str | None] = lambda: None,
        observe: Callable[[Verdict], None] = lambda _v: None,
    ) -> WatchResult:
        """Poll until a decision.

        - a regression ends the loop at once;
        - with stop_on_pass (verify), a pass ends it unless `hold()` gives a reason to
          wait (the E2E command still running);
        - at `deadline` (unix time) the loop ends with the last verdict: verify's
          max_observation (inconclusive: ask a person) or the end of the rollback
          window (`turnout watch`);
        - `keep_going()` may return a reason to stop early (superseded deployment);
        - `observe(verdict)` sees every look (the probe sets its rate from it).
        """
        last: Verdict | None = None
        while True:
            verdict = self.poll()
            last = verdict
            observe(verdict)
            now = self.clock.now().timestamp()
            if verdict.kind is VerdictKind.FAIL:
                self.state.status = "regressed"
                self.state.decided_at = now
                self.state.verdict = verdict.to_dict()
                self.save()
                return WatchResult(verdict, self.state, "regressed")
            held = hold()
            if verdict.kind is VerdictKind.PASS and stop_on_pass and held is None:
                self.state.status = "passed"
                self.state.decided_at = now
                self.state.verdict = verdict.to_dict()
                self.save()
                return WatchResult(verdict, self.state, "passed")
            self.save_now_and_then()
            if now >= deadline and (verdict.kind is not VerdictKind.PASS or held is None):
                reason = "max-observation" if stop_on_pass else "window-ended"
                if stop_on_pass:
                    self.state.status = "inconclusive"
                    self.state.decided_at = now
                    self.state.verdict = verdict.to_dict()
                self.save()
                return WatchResult(last, self.state, reason)
            stop = keep_going()
            if stop is not None:
                self.save()
                return WatchResult(last, self.state, "stopped: " + stop)
            self._report(verdict, held)
            self.clock.sleep(poll_interval)

    def _report(self, verdict: Verdict, held: str | None) -> None:
        # One line every few seconds is live enough and keeps logs readable.
        now = self.clock.monotonic()
        if self._reported_at is not None and now - self._reported_at < REPORT_EVERY:
            return
        self._reported_at = now
        ev = verdict.evidence
        rate = ev.get("error_rate")
        line = (
            f"{ev.get('observed_seconds', 0):.0f}s: {ev.get('requests', 0)} requests, "
            f"errors {'n/a' if rate is None else f'{rate:.2%}'}, "
            f"p95 {ev.get('p95_ms') if ev.get('p95_ms') is not None else 'n/a'} ms, "
            f"{verdict.kind.value}"
        )
        if held:
            line += f" (waiting: {held})"
        self.progress(line)


def subtract(later: SecondBucket, earlier: SecondBucket) -> SecondBucket:
    """Counts in `later` totals that were not yet in `earlier` totals."""
    out = SecondBucket(
        second=0, count=later.count - earlier.count, probes=later.probes - earlier.probes
    )
    for key in set(later.status) | set(earlier.status):
        value = later.status.get(key, 0) - earlier.status.get(key, 0)
        if value:
            out.status[key] = value
    out.latency = [a - b for a, b in zip(later.latency, earlier.latency, strict=True)]
    return out
