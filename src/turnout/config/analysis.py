"""Metric analysis settings: thresholds, sequential tests, observation, business checks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from turnout.config.azure import AppInsightsConfig, AzureMonitorConfig
from turnout.config.base import MAX_SECONDS, Section
from turnout.config.plugins import MetricsPlugin, metrics_plugins
from turnout.config.secrets import Secret


class PrometheusConfig(Section):
    """A Prometheus server's HTTP API and the PromQL that reads the app's traffic.

    In every query `{slot}` is replaced by the slot name (`production` after the
    swap) and `{env}` by the environment name. The three traffic queries must
    return *cumulative counters* (turnout reads them with /api/v1/query_range and
    takes differences between steps); the defaults read what the local router
    exposes on `/metrics`.
    """

    url: str
    """Base URL of the server, e.g. http://127.0.0.1:9090 (the /api/v1/... paths are added)."""
    token: Secret | None = None
    """Bearer token as a secret reference (env:NAME), when the server wants one."""
    timeout: float = Field(default=10.0, gt=0, le=MAX_SECONDS)
    step: float = Field(default=1.0, gt=0, le=MAX_SECONDS)
    """Resolution of query_range in seconds: the width of one bucket of traffic."""
    settle: float = Field(default=30.0, ge=0, le=MAX_SECONDS)
    """Seconds after which a step is final (cover the scrape interval plus ingestion delay)."""
    requests_query: str = 'sum(turnout_slot_requests_total{slot="{slot}"})'
    errors_query: str = 'sum(turnout_slot_requests_total{slot="{slot}",status=~"5xx|err"})'
    latency_query: str = 'sum by (le) (turnout_slot_request_duration_seconds_bucket{slot="{slot}"})'
    """Cumulative latency histogram by `le` (seconds), like a Prometheus histogram's _bucket."""


class BusinessCheck(Section):
    """A business metric that must hold after the swap, e.g. rewards processed > 0.

    `source = "prometheus"` runs `query` (PromQL, instant) against
    [analysis.prometheus]; the result must be one number (a scalar or a vector,
    whose values are summed). `source = "http"` GETs `url` (absolute, or a path
    on the production URL) and reads the number at `field` (dotted path) of the
    JSON answer. The number is compared with `threshold` using `op`.
    """

    name: str = Field(min_length=1)
    source: Literal["prometheus", "http"] = "prometheus"
    query: str | None = None
    url: str | None = None
    field: str | None = None
    op: Literal[">", ">=", "<", "<=", "==", "!="] = ">"
    threshold: float = 0.0
    timeout: float = Field(default=5.0, gt=0, le=MAX_SECONDS)

    @model_validator(mode="after")
    def _source_settings(self) -> BusinessCheck:
        if self.source == "prometheus" and not self.query:
            raise ValueError(f"business check {self.name!r}: source prometheus needs `query`")
        if self.source == "http" and (not self.url or not self.field):
            raise ValueError(f"business check {self.name!r}: source http needs `url` and `field`")
        return self


IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


class ProbeRequestConfig(Section):
    """One request of the verification traffic."""

    method: str = "GET"
    path: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: int = Field(default=200, ge=100, le=599)
    """A different answer counts as a failed request of the probe."""

    @model_validator(mode="after")
    def _path(self) -> ProbeRequestConfig:
        if not self.path.startswith("/"):
            raise ValueError(f"probe path {self.path!r} must start with /")
        return self


class ProbeConfig(Section):
    """Verification traffic: turnout's own requests when live traffic is too little to decide.

    Before the swap they go to the staging slot's own URL (a broken release is caught
    before it takes traffic), after the swap to production. Every probe carries the
    X-Turnout-Probe header and the turnout-probe user agent; the local router counts
    them apart from live traffic and the evidence says how many judged requests were
    probes.
    """

    mode: Literal["auto", "always", "off"] = "auto"
    """auto: only the shortfall between live traffic and what the limits need; always: at
    the rate cap whatever the live traffic; off: never."""
    requests: list[ProbeRequestConfig] = Field(default_factory=list)
    """The requests, sent in turn; empty: the GET health and smoke checks."""
    allow_non_idempotent: bool = False
    """Allow methods that are not idempotent (POST, PATCH, ...): each probe repeats them."""
    rate: float = Field(default=150.0, gt=0, le=10000)
    """Requests per second at most, whatever the mode."""
    concurrency: int = Field(default=6, ge=1, le=64)
    """Requests in flight at most."""
    decide_within: float = Field(default=20.0, gt=0)
    """auto: probe so that live traffic plus probes reach the requests the limits need
    within this many seconds of the start (the rate cap still applies)."""
    before_swap: float = Field(default=10.0, ge=0)
    """Seconds at most of probing the staging slot before the swap (stops early on a
    verdict; 0: no probing before the swap). A regression found there stops the
    deployment before any traffic moves."""
    timeout: float = Field(default=5.0, gt=0)
    """Seconds a probe request may take before it counts as failed."""

    @model_validator(mode="after")
    def _methods(self) -> ProbeConfig:
        for request in self.requests:
            method = request.method.upper()
            if method not in IDEMPOTENT_METHODS and not self.allow_non_idempotent:
                raise ValueError(
                    f"probe request {method} {request.path} is not idempotent; probes repeat"
                    " it many times (set allow_non_idempotent = true if that is intended)"
                )
        return self


NO_PROVIDER = "none"
"""`analysis.provider = "none"`: health checks only, metrics not measured."""
ROUTER = MetricsPlugin("router", "turnout.analysis.router:router_provider")
"""The `router` entry point of `turnout.metrics_providers`: a target's own traffic counters."""
PROMETHEUS = MetricsPlugin("prometheus", "turnout.analysis.prometheus:prometheus_provider")
"""The `prometheus` entry point of `turnout.metrics_providers` ([analysis.prometheus])."""


class AnalysisConfig(Section):
    """How the new version is judged on live traffic after the swap."""

    provider: str = "router"
    """Where traffic counts come from: the target's own router (local target), a
    Prometheus server ([analysis.prometheus]), Application Insights ([analysis.appinsights]),
    Azure Monitor platform metrics of an azure target, another installed provider (the
    `turnout.metrics_providers` entry points), or none (health checks only)."""
    max_error_rate: float = Field(default=0.001, gt=0, lt=1)
    """Absolute limit from the runbook: error rate < 0.1 %."""
    max_p95_ms: float = Field(default=500.0, gt=0)
    """Absolute limit from the runbook: p95 < 500 ms."""
    latency_quantile: float = Field(default=0.95, gt=0.5, lt=1)
    """The quantile `max_p95_ms` limits (0.95: p95)."""
    baseline_factor: float = Field(default=2.0, gt=1)
    """Relative limit: roll back above this multiple of the pre-deployment baseline."""
    margin: float = Field(default=0.2, ge=0)
    """Tolerance over the baseline a healthy release may show (time-of-day drift): 0.2 = +20 %."""
    alpha: float = Field(default=0.01, gt=0, lt=0.5)
    """Bound on the probability of rolling back a healthy release, however often turnout looks."""
    beta: float = Field(default=0.01, gt=0, lt=0.5)
    """Bound on the probability of passing a release that is at the rollback limit."""
    min_events: int = Field(default=2, ge=1)
    """Errors (or slow requests) needed before a regression can be declared."""
    baseline_lookback: float = Field(default=3600.0, gt=0, le=MAX_SECONDS)
    """Seconds of the live version's history used for the baseline."""
    baseline_min_requests: int = Field(default=500, ge=1)
    """A baseline with fewer requests is not trusted: the absolute limits alone apply."""
    warmup_exclude: float = Field(default=0.0, ge=0, le=MAX_SECONDS)
    """Seconds after the swap whose traffic is not judged."""
    min_observation: float = Field(default=5.0, ge=0, le=MAX_SECONDS)
    """Seconds of observation before a healthy release may pass."""
    max_observation: float = Field(default=600.0, gt=0, le=MAX_SECONDS)
    """After this many seconds without a decision: hold and ask a person (exit 5)."""
    poll_interval: float = Field(default=0.5, ge=0.05, le=60)
    """Seconds between two looks at the metrics."""
    restart_every: float = Field(default=60.0, gt=0, le=MAX_SECONDS)
    """Seconds between the later start points of the regression test: besides all traffic
    since the swap, the traffic since each of these points is judged on its own, so a
    release that degrades late in the window is caught about as fast as one that fails
    at once."""
    watch_for: float = Field(default=1800.0, gt=0, le=MAX_SECONDS)
    """`turnout watch`: length of the rollback window after the swap (runbook: 30 min)."""
    emergency_watch_for: float = Field(default=7200.0, gt=0, le=MAX_SECONDS)
    """The same after an emergency deployment (runbook: monitor for 2 h): the one setting
    for how long an emergency deployment is monitored."""
    undecided: Literal["hold", "accept", "rollback"] = "hold"
    """What a verification that could not decide within max_observation does: hold (exit 5,
    a person decides: `turnout accept`, `watch` or `rollback`), accept (keep the release,
    recorded as "accepted unproven") or rollback (swap back, exit 4). Whatever the setting,
    such a release is never called verified."""
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    """Verification traffic ([analysis.probe])."""
    prometheus: PrometheusConfig | None = None
    appinsights: AppInsightsConfig | None = None
    azure_monitor: AzureMonitorConfig | None = None
    business: list[BusinessCheck] = Field(default_factory=list)
    """Business checks run once the metrics say healthy (runbook Phase 5.5)."""

    @field_validator("provider")
    @classmethod
    def _installed(cls, value: str) -> str:
        installed = metrics_plugins()
        if value != NO_PROVIDER and value not in installed:
            known = ", ".join([*installed, NO_PROVIDER])
            raise ValueError(f"no metrics provider {value!r} is installed (known: {known})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AnalysisConfig:
        if 1 + self.margin >= self.baseline_factor:
            raise ValueError(
                f"margin ({self.margin}) must be below baseline_factor - 1"
                f" ({self.baseline_factor - 1:g}): a healthy release may not sit at the limit"
            )
        if self.min_observation > self.max_observation:
            raise ValueError("min_observation is larger than max_observation")
        if self.provider == "prometheus" and self.prometheus is None:
            raise ValueError("provider = 'prometheus' needs an [analysis.prometheus] table")
        if self.provider == "appinsights" and self.appinsights is None:
            raise ValueError("provider = 'appinsights' needs an [analysis.appinsights] table")
        if any(c.source == "prometheus" for c in self.business) and self.prometheus is None:
            raise ValueError("business checks with source prometheus need [analysis.prometheus]")
        return self
