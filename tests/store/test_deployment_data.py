"""A deployment's recorded data: typed records read from, and written as, the stored JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from turnout.model import DeploymentStatus, DeploymentType
from turnout.store import Store
from turnout.store.deployment_data import (
    AcceptanceRecord,
    AnnouncementRecord,
    DeploymentData,
    FailureRecord,
    ProofRecord,
    SnapshotRecord,
    TrafficPoint,
    VerificationRecord,
    WatchRecord,
    WatchStatus,
)
from turnout.store.records import NewDeployment
from turnout.store.sql import document

# What earlier versions wrote for a release held by verification, accepted, then proven.
EARLIER: dict[str, Any] = {
    "fixes_incidents": ["7"],
    "snapshot": {"production_version": "1.0.0", "baseline": {"requests": 3}, "metrics": "ok"},
    "failure": None,
    "verification": {
        "analysis": {"status": "inconclusive", "summary": "too few requests"},
        "proven": True,
        "summary": "not proven healthy",
        "checks": [{"name": "health", "ok": True}],
        "e2e": None,
        "probes": [{"sent": 4}],
        "accepted_by": "sam",
        "proven_by": {
            "by": "watch",
            "at": "2026-12-01T10:00:00+00:00",
            "summary": "healthy",
            "evidence": {"requests": 120},
            "was": "accepted unproven by sam",
            "hold": {"step": "verify", "error": "undecided", "details": {}},
        },
    },
    "accepted": {"by": "sam", "reason": "checked by hand", "at": "2026-12-01T09:00:00+00:00"},
    "watch": {"status": "rolled-back", "verdict": {"kind": "fail"}, "rollback": {"to": "1.0.0"}},
    "watch_probes": [{"sent": 9}],
    "outside_window": True,
    "outside_window_reason": "hotfix",
    "log_line": "2026-12-01 08:59:00 - v1.1.0 deployed to staging",
    "tracking_problems": ["tracking issue #4: comment not posted: 502"],
    "announcements": {"start": {"at": "2026-12-01T08:58:00+00:00", "delivered": ["slack"]}},
    "infra_run": {"run_id": 8, "conclusion": "success"},
}

HELD_THEN_PROVEN = NewDeployment(
    environment="staging",
    version="1.1.0",
    type=DeploymentType.APP,
    status=DeploymentStatus.SUCCEEDED,
    deployer="ana",
    data=EARLIER,
)
"""A deployment whose record is what earlier versions wrote."""


def _stored(store: Store, deployment_id: int) -> Any:
    with store.db.transaction() as tx:
        row = tx.one("SELECT data FROM deployments WHERE id = :id", {"id": deployment_id})
    assert row is not None
    return document(row["data"])


def test_a_record_written_by_earlier_versions_reads_as_typed_records(any_store: Store) -> None:
    """Every key an earlier version wrote reads into its typed field, the rest into `other`."""
    dep = any_store.create_deployment(HELD_THEN_PROVEN)
    row = any_store.deployment(dep.id)
    assert row is not None
    data = row.data
    assert data.failure is None
    assert data.accepted == AcceptanceRecord(
        "sam", "checked by hand", datetime(2026, 12, 1, 9, tzinfo=UTC)
    )
    verification = data.verification
    assert verification is not None and verification.proven is True
    assert verification.accepted_by == "sam" and verification.evidence["probes"] == [{"sent": 4}]
    assert verification.proven_by is not None
    assert verification.proven_by.hold == FailureRecord("verify", "undecided", details={})
    assert data.watch == WatchRecord(
        WatchStatus.ROLLED_BACK, verdict={"kind": "fail"}, rollback={"to": "1.0.0"}
    )
    assert data.watch_probes == ({"sent": 9},)
    assert data.outside_window and data.outside_window_reason == "hotfix"
    assert data.fixes_incidents == ("7",)
    assert data.snapshot == SnapshotRecord("1.0.0", {"requests": 3}, "ok")
    assert data.log_line is not None and data.log_line.endswith("deployed to staging")
    assert data.tracking_problems == ("tracking issue #4: comment not posted: 502",)
    assert data.announcements == {
        "start": AnnouncementRecord(datetime(2026, 12, 1, 8, 58, tzinfo=UTC), ("slack",))
    }
    assert set(data.other) == {"infra_run"}


def test_rewriting_the_typed_records_keeps_the_stored_document(any_store: Store) -> None:
    """Writing back what was read leaves the JSON document exactly as earlier versions wrote
    it (same keys, same order, same values), so no migration is needed."""
    dep = any_store.create_deployment(HELD_THEN_PROVEN)
    row = any_store.deployment(dep.id)
    assert row is not None and row.data.verification is not None
    assert row.data.accepted is not None and row.data.watch is not None
    assert row.data.snapshot is not None and row.data.log_line is not None
    any_store.update_deployment_data(
        dep.id,
        failure=None,
        verification=row.data.verification,
        accepted=row.data.accepted,
        watch=row.data.watch,
        watch_probes=row.data.watch_probes,
        snapshot=row.data.snapshot,
        log_line=row.data.log_line,
        tracking_problems=row.data.tracking_problems,
        announcements=row.data.announcements,
    )
    stored = _stored(any_store, dep.id)
    assert stored == EARLIER
    assert list(stored["verification"]) == list(EARLIER["verification"])


def test_an_update_changes_only_the_records_it_is_given(any_store: Store) -> None:
    """A failure recorded then cleared, and a later proof, leave every other entry as it was."""
    dep = any_store.create_deployment(
        NewDeployment(
            environment="staging",
            version="1.1.0",
            type=DeploymentType.APP,
            status=DeploymentStatus.RUNNING,
            deployer="ana",
            data={"outside_window": True, "infra_run": {"run_id": 8}},
        )
    )
    any_store.update_deployment_data(dep.id, failure=FailureRecord("verify", "undecided"))
    any_store.update_deployment_data(dep.id, verification=VerificationRecord(proven=False))
    row = any_store.deployment(dep.id)
    assert row is not None and row.data.failure == FailureRecord("verify", "undecided")
    proof = ProofRecord(
        "watch", datetime(2026, 12, 1, tzinfo=UTC), "healthy", {}, "held", row.data.failure
    )
    any_store.update_deployment_data(
        dep.id, failure=None, verification=VerificationRecord(proven=True, proven_by=proof)
    )
    row = any_store.deployment(dep.id)
    assert row is not None
    assert row.data == DeploymentData(
        verification=VerificationRecord(proven=True, proven_by=proof),
        outside_window=True,
        other={"infra_run": {"run_id": 8}},
    )
    assert _stored(any_store, dep.id)["failure"] is None


def test_typed_entries_are_not_written_as_free_keys(any_store: Store) -> None:
    """The free-form merge refuses the keys that have typed records."""
    dep = any_store.create_deployment(
        NewDeployment(
            environment="staging",
            version="1.1.0",
            type=DeploymentType.APP,
            status=DeploymentStatus.RUNNING,
            deployer="ana",
        )
    )
    with pytest.raises(ValueError, match="failure"):
        any_store.merge_deployment_data(dep.id, failure={"step": "verify"})


def test_unreadable_entries_read_as_absent() -> None:
    """Entries of an unexpected shape read as absent rather than failing the whole record."""
    data = DeploymentData.from_document(
        {"failure": "boom", "verification": [1], "accepted": {"by": "sam", "at": "not a time"}}
    )
    assert data == DeploymentData()
    assert DeploymentData.from_document({"watch": {"status": "later"}}) == DeploymentData()
    assert DeploymentData.from_document(None) == DeploymentData()


def test_a_lone_incident_reference_reads_as_one_incident() -> None:
    """A hand-written record naming one incident (not a list) reads as that incident."""
    assert DeploymentData.from_document({"fixes_incidents": 12}).fixes_incidents == ("12",)


def test_the_traffic_series_round_trips_and_skips_unreadable_points(any_store: Store) -> None:
    """A verification's traffic series is stored as a list of intervals and read back as
    typed points; a point of the wrong shape is left out, the others kept."""
    dep = any_store.create_deployment(
        NewDeployment(
            environment="web",
            version="1.0.0",
            type=DeploymentType.APP,
            status=DeploymentStatus.SUCCEEDED,
            deployer="dana",
        )
    )
    points = (
        TrafficPoint(at=100.0, seconds=5.0, requests=50, errors=1, p95_ms=120.0),
        TrafficPoint(at=105.0, seconds=5.0, requests=0, errors=0, p95_ms=None),
    )
    any_store.update_deployment_data(
        dep.id, verification=VerificationRecord(proven=True, series=points)
    )
    stored = _stored(any_store, dep.id)["verification"]["series"]
    assert stored[0] == {"at": 100.0, "seconds": 5.0, "requests": 50, "errors": 1, "p95_ms": 120.0}
    row = any_store.deployment(dep.id)
    assert row is not None and row.data.verification is not None
    assert row.data.verification.series == points
    assert points[0].error_rate == 0.02 and points[1].error_rate is None
    mixed = VerificationRecord.from_dict({"series": [{"at": "soon"}, stored[0]]})
    assert mixed is not None and mixed.series == points[:1]


def test_the_analysis_series_reads_back_as_typed_samples(any_store: Store) -> None:
    """Samples written with update_deployment_data read back equal; unreadable ones are left
    out rather than failing the whole record."""
    from turnout.store.deployment_data import AnalysisSample, MetricLook

    row = any_store.create_deployment(
        NewDeployment(
            environment="production",
            version="1.0.0",
            type=DeploymentType.APP,
            status=DeploymentStatus.RUNNING,
            deployer="sam",
        )
    )
    look = MetricLook(1.5, 4.6, 0.2, 4.6, "continue")
    sample = AnalysisSample(
        10.0, 2.0, "after-swap", "inconclusive", 40, 30, 1, 0.025, 120.0, {"errors": look}
    )
    any_store.update_deployment_data(row.id, analysis_series=[sample])
    found = any_store.deployment(row.id)
    assert found is not None and found.data.analysis_series == (sample,)
    stored = DeploymentData.from_document({"analysis_series": [sample.to_dict(), {"at": "x"}, 3]})
    assert stored.analysis_series == (sample,)
