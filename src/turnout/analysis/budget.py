"""The evidence budget `turnout plan` states up front: how many requests the configured limits
need for a healthy verdict, how long that takes at the live rate seen now plus the probes'
rate, and whether `max_observation` can be enough."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from turnout.analysis.judge import Judge, requests_for_healthy
from turnout.errors import TurnoutError
from turnout.targets.protocol import PRODUCTION
from turnout.traffic import merge

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig

LIVE_WINDOW = 60.0
"""Seconds of production traffic the live rate is measured over."""


@dataclass(frozen=True)
class EvidenceBudget:
    """What a healthy verdict needs and how long it should take (JSON-ready via to_dict)."""

    error_limit: float
    latency_limit_ms: float
    requests_needed: int
    """For a release with no errors and no slow requests (the fewest)."""
    errors_needed: int
    latency_needed: int
    live_rps: float | None
    """Production's rate over the last minute (None: not measured)."""
    live_note: str
    probe_mode: str
    probe_rps: float
    seconds: float | None
    """At the live rate plus the probes (None: no traffic at all)."""
    max_observation: float
    warning: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def lines(self) -> list[str]:
        """What `plan` prints."""
        rate = "not measured" if self.live_rps is None else f"{self.live_rps:.1f} rps"
        probes = (
            "no probes (probe.mode = off)"
            if self.probe_mode == "off"
            else f"probes up to {self.probe_rps:g} rps ({self.probe_mode})"
        )
        out = [
            f"about {self.requests_needed:,} requests prove a healthy release: error limit"
            f" {self.error_limit:.2%} needs {self.errors_needed:,}, latency limit"
            f" {self.latency_limit_ms:g} ms needs {self.latency_needed:,}",
            f"live traffic now {rate} ({self.live_note}) + {probes}: "
            + (
                f"about {self.seconds:.0f} s of the max_observation {self.max_observation:g} s"
                if self.seconds is not None
                else "no traffic to judge"
            ),
        ]
        if self.warning:
            out.append(f"warning: {self.warning}")
        return out


def evidence_budget(
    config: LoadedConfig, env: EnvironmentConfig, *, now: float | None = None
) -> EvidenceBudget | None:
    """The budget for an environment (None when metrics are not analysed at all)."""
    analysis = env.analysis
    if analysis.provider == "none":
        return None
    # The tests verify runs, without a baseline: the absolute limits.
    judge = Judge(analysis)
    errors_needed = requests_for_healthy(judge.tests["errors"], 0.0)
    latency_needed = requests_for_healthy(judge.tests["latency"], 0.0)
    needed = max(errors_needed, latency_needed)
    live, note = _live_rate(config, env, time.time() if now is None else now)
    probe = analysis.probe
    probe_rps = 0.0 if probe.mode == "off" else probe.rate
    total = (live or 0.0) + probe_rps
    seconds = needed / total if total > 0 else None
    warning = None
    if seconds is None:
        warning = (
            f"no live traffic measured and probes are off: max_observation"
            f" ({analysis.max_observation:g} s) cannot be enough; the release would be"
            f" {_undecided(analysis.undecided)}"
        )
    elif seconds > analysis.max_observation:
        warning = (
            f"at {total:.1f} rps the {needed:,} requests take about {seconds:.0f} s, more than"
            f" max_observation ({analysis.max_observation:g} s): the release would be"
            f" {_undecided(analysis.undecided)} (raise probe.rate or max_observation)"
        )
    return EvidenceBudget(
        error_limit=analysis.max_error_rate,
        latency_limit_ms=judge.latency_limit_ms,
        requests_needed=needed,
        errors_needed=errors_needed,
        latency_needed=latency_needed,
        live_rps=live,
        live_note=note,
        probe_mode=probe.mode,
        probe_rps=probe_rps,
        seconds=seconds,
        max_observation=analysis.max_observation,
        warning=warning,
    )


def _undecided(policy: str) -> str:
    return {
        "hold": "held for a person (exit 5)",
        "accept": "kept as accepted unproven",
        "rollback": "rolled back unproven (exit 4)",
    }[policy]


def _live_rate(
    config: LoadedConfig, env: EnvironmentConfig, now: float
) -> tuple[float | None, str]:
    """Production's requests per second over the last minute, and where it came from."""
    from turnout.analysis.provider import choose_provider
    from turnout.targets.registry import create_target

    try:
        target = create_target(config, env)
        try:
            choice = choose_provider(config, env, target)
            if choice.provider is None:
                return None, choice.note
            try:
                seen = merge(choice.provider.buckets(PRODUCTION, now - LIVE_WINDOW, now))
            finally:
                choice.provider.close()
        finally:
            target.close()
    except TurnoutError as exc:
        return None, f"not readable: {exc.message}"
    return seen.count / LIVE_WINDOW, f"last {LIVE_WINDOW:g} s, {choice.note}"
