"""The demo's timing table: where a deployment's time goes, by step."""

from __future__ import annotations

import pytest

from turnout.api import DeploymentStatus
from turnout.demo.story import Chapter


def test_probe_and_preflight_time_are_not_counted_as_turnouts_own() -> None:
    """Probing before the swap is verification, preflight is target checks; the rest is own."""
    chapter = Chapter("staging", "1.1.0", DeploymentStatus.SUCCEEDED, wall_s=20.0)
    chapter.step_seconds = {
        "preflight": 0.5,
        "stage": 1.0,
        "warmup": 2.0,
        "smoke": 0.1,
        "probe": 8.7,
        "swap": 0.1,
        "verify": 7.2,
        "announce": 0.2,
    }
    assert chapter.app_wait_s == pytest.approx(3.1)
    assert chapter.verification_s == pytest.approx(15.9)
    assert chapter.target_checks_s == pytest.approx(0.5)
    assert chapter.own_s == pytest.approx(0.5)


def test_a_second_counts_for_a_deployment_it_overlaps() -> None:
    """A Unix second overlapping the deployment's span is attributed to it, others are not."""
    chapter = Chapter("staging", "1.2.0", DeploymentStatus.ROLLED_BACK)
    chapter.started_at, chapter.finished_at = 100.5, 110.2
    assert chapter.overlaps(100) and chapter.overlaps(110)
    assert not chapter.overlaps(99) and not chapter.overlaps(111)
