"""What steps and later commands record about a deployment, as typed records.

The store keeps this as one JSON document per deployment (`deployments.data`). The
records here read that document and write back the same keys in the same shapes that
earlier versions wrote, so stores written by any earlier version read unchanged and no
schema migration is needed. Keys a record does not type (yet, or from older versions)
are kept as they are in `DeploymentData.other` and written back untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

TYPED_KEYS = frozenset(
    {
        "failure",
        "verification",
        "accepted",
        "watch",
        "watch_probes",
        "outside_window",
        "outside_window_reason",
        "fixes_incidents",
        "snapshot",
        "log_line",
        "tracking_problems",
        "announcements",
        "analysis_series",
        "arm_deployment",
    }
)
"""The stored keys `DeploymentData` reads into typed fields."""


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _moment(value: Any) -> datetime | None:
    """An ISO timestamp as written by the store's clock (None when missing or unreadable)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class FailureRecord:
    """The step that failed a deployment and why."""

    step: str
    error: str
    details: Mapping[str, Any] | None = None
    """What the error carried (its evidence), free-form; None when it carried nothing."""
    traceback: str | None = None
    """The end of the traceback, for errors that are not turnout's own."""

    @classmethod
    def from_dict(cls, data: Any) -> FailureRecord | None:
        """The record as stored (None when nothing failed or the entry is unreadable)."""
        if not isinstance(data, Mapping):
            return None
        details = data.get("details")
        return cls(
            step=str(data.get("step", "?")),
            error=str(data.get("error", "")),
            details=dict(details) if isinstance(details, Mapping) else None,
            traceback=_text(data.get("traceback")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form."""
        document: dict[str, Any] = {"step": self.step, "error": self.error}
        if self.details is not None:
            document["details"] = dict(self.details)
        if self.traceback is not None:
            document["traceback"] = self.traceback
        return document


@dataclass(frozen=True)
class ProofRecord:
    """A later healthy verdict (a watch's) on a release that was kept or held unproven."""

    by: str
    at: datetime
    summary: str
    evidence: Mapping[str, Any]
    """The verdict's headline figures, free-form."""
    was: str
    """What the release was before the proof, in words."""
    hold: FailureRecord | None
    """The failure that held the release, when it was held."""

    @classmethod
    def from_dict(cls, data: Any) -> ProofRecord | None:
        """The record as stored (None when missing or unreadable)."""
        if not isinstance(data, Mapping):
            return None
        at = _moment(data.get("at"))
        if at is None:
            return None
        evidence = data.get("evidence")
        return cls(
            by=str(data.get("by", "")),
            at=at,
            summary=str(data.get("summary", "")),
            evidence=dict(evidence) if isinstance(evidence, Mapping) else {},
            was=str(data.get("was", "")),
            hold=FailureRecord.from_dict(data.get("hold")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form."""
        return {
            "by": self.by,
            "at": self.at.isoformat(),
            "summary": self.summary,
            "evidence": dict(self.evidence),
            "was": self.was,
            "hold": None if self.hold is None else self.hold.to_dict(),
        }


@dataclass(frozen=True)
class TrafficPoint:
    """Production's traffic over one interval around a deployment's swap, as measured."""

    at: float
    """Start of the interval (epoch seconds)."""
    seconds: float
    """Width of the interval."""
    requests: int
    errors: int
    """Failed requests: 5xx answers and requests that got no answer."""
    p95_ms: float | None
    """Estimated from the interval's latency histogram (None without requests)."""

    @property
    def error_rate(self) -> float | None:
        """Errors over requests (None without requests)."""
        return self.errors / self.requests if self.requests else None

    @classmethod
    def from_dict(cls, data: Any) -> TrafficPoint | None:
        """The point as stored (None when unreadable)."""
        if not isinstance(data, Mapping):
            return None
        try:
            p95 = data.get("p95_ms")
            return cls(
                at=float(data["at"]),
                seconds=float(data.get("seconds", 1.0)),
                requests=int(data.get("requests", 0)),
                errors=int(data.get("errors", 0)),
                p95_ms=None if p95 is None else float(p95),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form."""
        return {
            "at": self.at,
            "seconds": self.seconds,
            "requests": self.requests,
            "errors": self.errors,
            "p95_ms": self.p95_ms,
        }


def _series(value: Any) -> tuple[TrafficPoint, ...]:
    if not isinstance(value, list | tuple):
        return ()
    points = (TrafficPoint.from_dict(item) for item in value)
    return tuple(p for p in points if p is not None)


@dataclass(frozen=True)
class VerificationRecord:
    """A deployment's verification: its verdict in short, whether the release was proven
    healthy (and later, by whom it was accepted or proven), and its evidence."""

    proven: bool | None = None
    """None: verification never got as far as a verdict."""
    summary: str | None = None
    analysis: Mapping[str, Any] | None = None
    """The verdict's status and summary."""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """Checks, E2E results and probe batches as measured, free-form, by key."""
    accepted_by: str | None = None
    """Who kept the release live without proof."""
    proven_by: ProofRecord | None = None
    series: tuple[TrafficPoint, ...] = ()
    """Production's error rate and latency from before the swap to the verdict, in
    intervals (the report's chart of each deployment)."""

    @classmethod
    def from_dict(cls, data: Any) -> VerificationRecord | None:
        """The record as stored (None when missing or unreadable)."""
        if not isinstance(data, Mapping):
            return None
        analysis = data.get("analysis")
        proven = data.get("proven")
        known = {"proven", "summary", "analysis", "accepted_by", "proven_by", "series"}
        return cls(
            proven=None if proven is None else bool(proven),
            summary=_text(data.get("summary")),
            analysis=dict(analysis) if isinstance(analysis, Mapping) else None,
            evidence={k: v for k, v in data.items() if k not in known},
            accepted_by=_text(data.get("accepted_by")),
            proven_by=ProofRecord.from_dict(data.get("proven_by")),
            series=_series(data.get("series")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form: the keys earlier versions wrote, in their order."""
        document: dict[str, Any] = {}
        if self.analysis is not None:
            document["analysis"] = dict(self.analysis)
        if self.proven is not None:
            document["proven"] = self.proven
        if self.summary is not None:
            document["summary"] = self.summary
        document.update(self.evidence)
        if self.accepted_by is not None:
            document["accepted_by"] = self.accepted_by
        if self.proven_by is not None:
            document["proven_by"] = self.proven_by.to_dict()
        if self.series:
            document["series"] = [point.to_dict() for point in self.series]
        return document


@dataclass(frozen=True)
class AcceptanceRecord:
    """A person kept a held release live without proof (`turnout accept`)."""

    by: str
    reason: str
    at: datetime

    @classmethod
    def from_dict(cls, data: Any) -> AcceptanceRecord | None:
        """The record as stored (None when missing or unreadable)."""
        if not isinstance(data, Mapping):
            return None
        at = _moment(data.get("at"))
        if at is None:
            return None
        return cls(by=str(data.get("by", "")), reason=str(data.get("reason", "")), at=at)

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form."""
        return {"by": self.by, "reason": self.reason, "at": self.at.isoformat()}


class WatchStatus(StrEnum):
    """How `turnout watch` ended on a deployment."""

    PASSED = "passed"
    """The watch ran its course without a regression."""
    REGRESSED = "regressed"
    """The watch found a regression and is rolling back (or could not)."""
    ROLLED_BACK = "rolled-back"
    """The watch found a regression and rolled the release back."""


@dataclass(frozen=True)
class WatchRecord:
    """How `turnout watch` ended on a deployment, with its verdict."""

    status: WatchStatus
    summary: str | None = None
    until: float | None = None
    """When the watch was to end (epoch seconds), for a watch that passed."""
    verdict: Mapping[str, Any] | None = None
    """The regression verdict (kind, summary, reasons, evidence), free-form."""
    rollback: Mapping[str, Any] | None = None
    """What the rollback the watch started reported."""

    @classmethod
    def from_dict(cls, data: Any) -> WatchRecord | None:
        """The record as stored (None when missing or unreadable)."""
        if not isinstance(data, Mapping):
            return None
        try:
            status = WatchStatus(str(data.get("status")))
        except ValueError:
            return None
        until = data.get("until")
        verdict = data.get("verdict")
        rollback = data.get("rollback")
        return cls(
            status=status,
            summary=_text(data.get("summary")),
            until=float(until) if isinstance(until, int | float) else None,
            verdict=dict(verdict) if isinstance(verdict, Mapping) else None,
            rollback=dict(rollback) if isinstance(rollback, Mapping) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form."""
        document: dict[str, Any] = {"status": self.status.value}
        if self.summary is not None:
            document["summary"] = self.summary
        if self.until is not None:
            document["until"] = self.until
        if self.verdict is not None:
            document["verdict"] = dict(self.verdict)
        if self.rollback is not None:
            document["rollback"] = dict(self.rollback)
        return document


@dataclass(frozen=True)
class SnapshotRecord:
    """What production was before the deployment: its version and its metrics baseline."""

    production_version: str | None
    baseline: Mapping[str, Any] | None
    """The baseline as measured (requests, errors, latency figures …), free-form."""
    metrics: str
    """How the baseline was taken, in words."""

    @classmethod
    def from_dict(cls, data: Any) -> SnapshotRecord | None:
        """The record as stored (None when missing or unreadable)."""
        if not isinstance(data, Mapping):
            return None
        baseline = data.get("baseline")
        return cls(
            production_version=_text(data.get("production_version")),
            baseline=dict(baseline) if isinstance(baseline, Mapping) else None,
            metrics=str(data.get("metrics", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form."""
        return {
            "production_version": self.production_version,
            "baseline": None if self.baseline is None else dict(self.baseline),
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class AnnouncementRecord:
    """An announcement sent for the deployment: when, and to which channels it got through."""

    at: datetime
    delivered: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: Any) -> AnnouncementRecord | None:
        """The record as stored (None when missing or unreadable)."""
        if not isinstance(data, Mapping):
            return None
        at = _moment(data.get("at"))
        if at is None:
            return None
        return cls(at=at, delivered=tuple(str(c) for c in data.get("delivered") or ()))

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form."""
        return {"at": self.at.isoformat(), "delivered": list(self.delivered)}


@dataclass(frozen=True)
class MetricLook:
    """One metric's sequential test at one look: its statistics against their thresholds."""

    statistic: float
    """Evidence of a regression (ln of the likelihood ratio)."""
    threshold: float
    """The regression is declared when `statistic` reaches this."""
    healthy_statistic: float
    healthy_threshold: float
    """The metric is healthy when `healthy_statistic` reaches this."""
    decision: str

    @classmethod
    def from_dict(cls, data: Any) -> MetricLook | None:
        """The record as stored or as the judge's evidence has it (None when unreadable)."""
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(
                statistic=float(data["statistic"]),
                threshold=float(data["threshold"]),
                healthy_statistic=float(data["healthy_statistic"]),
                healthy_threshold=float(data["healthy_threshold"]),
                decision=str(data.get("decision", "")),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form."""
        return {
            "statistic": self.statistic,
            "threshold": self.threshold,
            "healthy_statistic": self.healthy_statistic,
            "healthy_threshold": self.healthy_threshold,
            "decision": self.decision,
        }


@dataclass(frozen=True)
class AnalysisSample:
    """One look of the metric analysis after the swap (verify's or a watch's): the totals it
    judged, live and probe requests apart, and each sequential test's statistic, so the
    evidence can be drawn over time."""

    at: float
    """Epoch seconds of the look."""
    seconds_after_swap: float
    phase: str
    """Who looked: "after-swap" (verify) or "watch"."""
    kind: str
    """The verdict at this look: pass, fail or inconclusive."""
    requests: int
    probe_requests: int
    errors: int
    error_rate: float | None
    p95_ms: float | None
    tests: Mapping[str, MetricLook] = field(default_factory=dict)
    """Each metric's test ("errors", "latency")."""

    @classmethod
    def from_dict(cls, data: Any) -> AnalysisSample | None:
        """The record as stored (None when unreadable)."""
        if not isinstance(data, Mapping):
            return None
        try:
            tests = _looks(data.get("tests"))
            rate, p95 = data.get("error_rate"), data.get("p95_ms")
            return cls(
                at=float(data["at"]),
                seconds_after_swap=float(data["seconds_after_swap"]),
                phase=str(data.get("phase", "")),
                kind=str(data.get("kind", "")),
                requests=int(data.get("requests", 0)),
                probe_requests=int(data.get("probe_requests", 0)),
                errors=int(data.get("errors", 0)),
                error_rate=None if rate is None else float(rate),
                p95_ms=None if p95 is None else float(p95),
                tests=tests,
            )
        except (KeyError, TypeError, ValueError):
            return None

    @classmethod
    def from_evidence(cls, kind: str, evidence: Mapping[str, Any], phase: str) -> AnalysisSample:
        """The sample of one look from the judge's evidence (as the watcher stamps it)."""
        tests = _looks(evidence.get("tests"))
        rate, p95 = evidence.get("error_rate"), evidence.get("p95_ms")
        return cls(
            at=float(evidence.get("at", 0.0)),
            seconds_after_swap=float(evidence.get("seconds_after_swap", 0.0)),
            phase=phase,
            kind=kind,
            requests=int(evidence.get("requests") or 0),
            probe_requests=int(evidence.get("probe_requests") or 0),
            errors=int(evidence.get("errors") or 0),
            error_rate=None if rate is None else float(rate),
            p95_ms=None if p95 is None else float(p95),
            tests=tests,
        )

    @property
    def live_requests(self) -> int:
        """Requests that were not turnout's own probes."""
        return self.requests - self.probe_requests

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form."""
        return {
            "at": self.at,
            "seconds_after_swap": self.seconds_after_swap,
            "phase": self.phase,
            "kind": self.kind,
            "requests": self.requests,
            "probe_requests": self.probe_requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "p95_ms": self.p95_ms,
            "tests": {name: look.to_dict() for name, look in self.tests.items()},
        }


def _looks(value: Any) -> dict[str, MetricLook]:
    """Each metric's test from a mapping of them (unreadable ones are left out)."""
    if not isinstance(value, Mapping):
        return {}
    found = {str(name): MetricLook.from_dict(test) for name, test in value.items()}
    return {name: look for name, look in found.items() if look is not None}


def read_samples(value: Any) -> tuple[AnalysisSample, ...]:
    """Samples as stored (unreadable entries are left out)."""
    if not isinstance(value, list | tuple):
        return ()
    found = (AnalysisSample.from_dict(item) for item in value)
    return tuple(sample for sample in found if sample is not None)


def _announcements(value: Any) -> dict[str, AnnouncementRecord]:
    if not isinstance(value, Mapping):
        return {}
    found = {str(kind): AnnouncementRecord.from_dict(sent) for kind, sent in value.items()}
    return {kind: sent for kind, sent in found.items() if sent is not None}


def _incidents(value: Any) -> tuple[str, ...]:
    """Incident references as stored (a list; a lone reference from hand-written records)."""
    if isinstance(value, str | int):
        return (str(value),)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


@dataclass(frozen=True)
class ArmOperationFailure:
    """A resource an ARM deployment failed to deploy, with ARM's error."""

    resource: str
    """TYPE/NAME of the resource."""
    code: str
    message: str

    @classmethod
    def from_dict(cls, data: Any) -> ArmOperationFailure | None:
        """The record as stored (None when unreadable)."""
        if not isinstance(data, Mapping) or "resource" not in data:
            return None
        return cls(str(data["resource"]), str(data.get("code", "")), str(data.get("message", "")))

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form."""
        return {"resource": self.resource, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class ArmRollbackRecord:
    """ARM's own roll back of a failed deployment: the earlier deployment it redeployed."""

    type: str
    """LastSuccessful (what turnout asks for)."""
    deployment_name: str | None
    """The successful deployment ARM redeployed (None: ARM found none to go back to)."""
    provisioning_state: str | None
    """How the redeployment ended (Succeeded: the resource group is as it was then)."""

    @property
    def succeeded(self) -> bool:
        """Whether ARM put the last successful deployment back."""
        return self.deployment_name is not None and self.provisioning_state == "Succeeded"

    @classmethod
    def from_dict(cls, data: Any) -> ArmRollbackRecord | None:
        """The record as stored (None when there was no roll back)."""
        if not isinstance(data, Mapping):
            return None
        return cls(
            str(data.get("type", "LastSuccessful")),
            _text(data.get("deployment_name")),
            _text(data.get("provisioning_state")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form."""
        return {
            "type": self.type,
            "deployment_name": self.deployment_name,
            "provisioning_state": self.provisioning_state,
        }


@dataclass(frozen=True)
class ArmDeploymentRecord:
    """The infrastructure phase's ARM deployment: its name (a resumed run follows it by
    that name), how it ended, what it produced and, after a failure, ARM's roll back."""

    name: str
    resource_group: str
    provisioning_state: str
    """Accepted or Running while ARM works; Succeeded, Failed or Canceled at the end."""
    mode: str = "Incremental"
    correlation_id: str | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    """The template's outputs, name -> value."""
    resources: tuple[str, ...] = ()
    """Resource ids ARM deployed (outputResources)."""
    error: str | None = None
    """ARM's error when it failed."""
    failures: tuple[ArmOperationFailure, ...] = ()
    """The resources whose operations failed."""
    rollback: ArmRollbackRecord | None = None

    @classmethod
    def from_dict(cls, data: Any) -> ArmDeploymentRecord | None:
        """The record as stored (None when missing or unreadable)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
            return None
        outputs = data.get("outputs")
        failures = (ArmOperationFailure.from_dict(f) for f in data.get("failures") or ())
        return cls(
            name=data["name"],
            resource_group=str(data.get("resource_group", "")),
            provisioning_state=str(data.get("provisioning_state", "NotSpecified")),
            mode=str(data.get("mode", "Incremental")),
            correlation_id=_text(data.get("correlation_id")),
            outputs=dict(outputs) if isinstance(outputs, Mapping) else {},
            resources=tuple(str(r) for r in data.get("resources") or ()),
            error=_text(data.get("error")),
            failures=tuple(f for f in failures if f is not None),
            rollback=ArmRollbackRecord.from_dict(data.get("rollback")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored (and JSON-ready) form."""
        return {
            "name": self.name,
            "resource_group": self.resource_group,
            "provisioning_state": self.provisioning_state,
            "mode": self.mode,
            "correlation_id": self.correlation_id,
            "outputs": dict(self.outputs),
            "resources": list(self.resources),
            "error": self.error,
            "failures": [f.to_dict() for f in self.failures],
            "rollback": None if self.rollback is None else self.rollback.to_dict(),
        }


@dataclass(frozen=True)
class DeploymentData:
    """What steps and later commands recorded about one deployment."""

    failure: FailureRecord | None = None
    """The step that failed it, until a resume or a later proof clears it."""
    verification: VerificationRecord | None = None
    accepted: AcceptanceRecord | None = None
    watch: WatchRecord | None = None
    watch_probes: tuple[Mapping[str, Any], ...] = ()
    """The probe batches the watch sent, as measured (free-form evidence)."""
    outside_window: bool = False
    """Deployed outside the change window on purpose (`--outside-window`)."""
    outside_window_reason: str | None = None
    fixes_incidents: tuple[str, ...] = ()
    """The incidents the deployment says it fixes (`--fixes`)."""
    snapshot: SnapshotRecord | None = None
    log_line: str | None = None
    """The deployments-log line, fixed once so a resumed step finds the line it wrote."""
    tracking_problems: tuple[str, ...] = ()
    """What could not be posted to the deployment's tracking issue, in order."""
    announcements: Mapping[str, AnnouncementRecord] = field(default_factory=dict)
    """The announcements sent, by message kind (start, success, rollback …)."""
    analysis_series: tuple[AnalysisSample, ...] = ()
    """Every look of the metric analysis from the swap on (verify's, then a watch's), oldest
    first and thinned evenly when long: what the evidence chart draws."""
    arm_deployment: ArmDeploymentRecord | None = None
    """The infrastructure phase's ARM deployment, when it has one."""
    other: Mapping[str, Any] = field(default_factory=dict)
    """Entries not typed here (snapshot, watch, tracking …, and keys of older versions), as
    stored."""

    @classmethod
    def from_document(cls, document: Any) -> DeploymentData:
        """The record from the stored JSON document (anything unreadable reads as absent)."""
        if not isinstance(document, Mapping):
            return cls()
        return cls(
            failure=FailureRecord.from_dict(document.get("failure")),
            verification=VerificationRecord.from_dict(document.get("verification")),
            accepted=AcceptanceRecord.from_dict(document.get("accepted")),
            watch=WatchRecord.from_dict(document.get("watch")),
            watch_probes=tuple(
                dict(batch)
                for batch in document.get("watch_probes") or ()
                if isinstance(batch, Mapping)
            ),
            outside_window=bool(document.get("outside_window")),
            outside_window_reason=_text(document.get("outside_window_reason") or None),
            fixes_incidents=_incidents(document.get("fixes_incidents")),
            snapshot=SnapshotRecord.from_dict(document.get("snapshot")),
            log_line=_text(document.get("log_line") or None),
            tracking_problems=tuple(str(p) for p in document.get("tracking_problems") or ()),
            announcements=_announcements(document.get("announcements")),
            analysis_series=read_samples(document.get("analysis_series")),
            arm_deployment=ArmDeploymentRecord.from_dict(document.get("arm_deployment")),
            other={k: v for k, v in document.items() if k not in TYPED_KEYS},
        )
