"""Steps' outputs read back from the journal as typed records."""

from __future__ import annotations

from turnout.runbook.outputs import BackupOutputs, SwapOutputs, VerifyOutputs


def test_journaled_outputs_read_as_typed_fields() -> None:
    """A swap's journaled object gives its time as a float and ignores keys it does not name."""
    swap = SwapOutputs.from_journal({"swapped_at": 1700000000, "slot": "blue", "extra": [1]})
    assert swap is not None
    assert swap.swapped_at == 1700000000.0 and swap.slot == "blue"


def test_a_misfit_value_reads_as_absent_and_the_rest_still_counts() -> None:
    """A hand-edited journal with a bad figure keeps the verdict: `proven` survives the misfit."""
    verify = VerifyOutputs.from_journal({"proven": False, "error_rate": "n/a", "summary": "kept"})
    assert verify is not None
    assert verify.proven is False and verify.error_rate is None and verify.summary == "kept"


def test_measured_figures_come_from_the_analysis_evidence_first() -> None:
    """error_rate is read from analysis.evidence before the outputs' own key."""
    verify = VerifyOutputs.from_journal(
        {"analysis": {"evidence": {"error_rate": 0.02}}, "error_rate": 0.5, "p95_ms": 120}
    )
    assert verify is not None
    assert verify.measured("error_rate") == 0.02 and verify.measured("p95_ms") == 120.0


def test_backup_outputs_without_a_backup() -> None:
    """A release without migrations journals no backup id and nothing pending."""
    backup = BackupOutputs.from_journal({"pending": [], "backup_id": None})
    assert backup is not None and backup.backup_id is None and backup.pending == []
