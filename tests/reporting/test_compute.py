"""The report's figures on a month of untidy history, against figures worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.report_history import DAYS, UNTIL, untidy_month
from turnout import api
from turnout.api.report_figures import ReportResult, Tier

# The history (tests/support/report_history.py), times UTC, the swap of each:
#   D1 1.0.0  Mon 11-09 10:00  verified 10:05            commit c1 (11-09 08:00)
#   D2 1.1.0  Tue 11-10 12:00  failed verify, swapped back 12:03 (auto rollback)
#   D3 1.1.1  Thu 11-12 10:00  verified 10:05            commit c3 (c2 11-10 08:00 is older)
#   D4 1.1.1  Fri 11-13 10:00  verified 10:05            the same version again: no new commit
#   D5 1.2.0  Mon 11-16        refused at the window: blocked, never reached production
#   D6 1.2.0  Tue 11-17 10:00  verified 10:05, rolled back by hand Thu 11-19 10:00
#   D7 1.3.0  Tue 11-24 11:00  cut off in verify, resumed 11:30, verified 11:35  commit c5
#   D8 1.3.1  Tue 11-24 15:00  emergency, verified 15:05  commit c6 (11-24 14:00)
#   D9 1.4.0  Wed 11-25 10:00  held (undecided), accepted by a person 12:00  commit c7 (08:00)
#   nothing in the week of Mon 11-30.
# The period: the 28 days before Fri 12-04 12:00, i.e. from Fri 11-06 12:00.

HOUR = 3600.0
DAY = 24 * HOUR


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    """The report of the untidy month, by week."""
    project = untidy_month(tmp_path_factory.mktemp("report") / "shop")
    return api.report("web", days=DAYS, by="week", until=UNTIL, config=project.config)


def test_dora_measures_over_the_month(month: ReportResult) -> None:
    """Each of the five measures, its sample size and its 2024 tier, computed by hand."""
    totals = month.environment("web").totals
    dora = totals.dora
    # Reached production: D1 D2 D3 D4 D6 D7 D8 D9 = 8 (D5 was blocked).
    # 8 / 28 days = 0.2857/day, at least weekly but not daily: high.
    frequency = dora.deployment_frequency
    assert (frequency.deployments, frequency.tier) == (8, Tier.HIGH)
    assert frequency.per_day == pytest.approx(8 / 28)
    # Days with a deployment: 11-09, 11-10, 11-12, 11-13, 11-17, 11-24 (two), 11-25 = 7.
    assert frequency.deployment_days == 7
    # Lead time, oldest commit production did not have → verified:
    #   D1: c1 08:00 → 10:05                        =   2 h 05 =   7 500 s
    #   D3: c2 11-10 08:00 → 11-12 10:05            = 50 h 05 = 180 300 s
    #   D4: nothing new (c3 was live)                → not counted
    #   D6: c4 11-16 09:00 → 11-17 10:05            = 25 h 05 =  90 300 s
    #   D7: c4 again (D6 was rolled back, c4 left production) 11-16 09:00 → 11-24 11:35
    #       = 8 d 2 h 35                                        = 700 500 s
    #   D8: c6 14:00 → 15:05                        =   1 h 05 =   3 900 s
    #   D9: c7 08:00 → accepted 12:00               =   4 h    =  14 400 s
    # Sorted 3900, 7500, 14400, 90300, 180300, 700500: median (14400 + 90300) / 2 = 52 350 s
    # (under a day: elite); p90 by nearest rank ceil(0.9 * 6) = 6th = 700 500 s.
    lead = dora.change_lead_time
    assert (lead.sample, lead.no_new_commits, lead.unmeasured) == (6, 1, 0)
    assert lead.median_s == pytest.approx(52_350)
    assert lead.p90_s == pytest.approx(700_500)
    assert lead.tier is Tier.ELITE
    # Failed: D2 (rolled back), D6 (rolled back later), D7 (emergency D8 4 h after it)
    # = 3 of 8 = 37.5 %: nearest 2024 cluster is low (40 %).
    cfr = dora.change_fail_rate
    assert (cfr.count, cfr.sample, cfr.tier) == (3, 8, Tier.LOW)
    assert cfr.value == pytest.approx(3 / 8)
    # Recovery: D2 12:00 → 12:03 = 180 s; D6 11-17 10:00 → 11-19 10:00 = 172 800 s;
    # D7 11:00 → D8 verified 15:05 = 14 700 s. Median 14 700 s (under a day: high).
    recovery = dora.recovery_time
    assert (recovery.sample, recovery.unrecovered) == (3, 0)
    assert recovery.median_s == pytest.approx(14_700)
    assert recovery.tier is Tier.HIGH
    # Rework: D3 (first after failed D2), D7 (first after failed D6), D8 (emergency) = 3/8.
    rework = dora.rework_rate
    assert (rework.count, rework.sample, rework.tier) == (3, 8, None)
    assert rework.to_dict()["tier_edition"] is None
    assert dora.to_dict()["change_fail_rate"]["tier_edition"] == "DORA 2024"
    # Begun in the period, by ending: kept D1 D3 D4 D7 D8 D9; D2; D6; blocked D5.
    counts = totals.counts
    assert (counts.succeeded, counts.rolled_back, counts.rolled_back_later) == (6, 1, 1)
    assert (counts.blocked, counts.held, counts.unfinished) == (1, 0, 0)


def test_success_metrics_count_what_users_received(month: ReportResult) -> None:
    """Error rate, p95, availability and rollback rate against the configured limits, the
    failed deployments' traffic included, with the runbook's action for each one missed."""
    success = month.environment("web").totals.success
    # Requests 1000+500+2000+1000+3000+1500+1000+100 = 10 100; errors 0+25+1+0+2+3+0+0 = 31.
    assert success.error_rate.sample == 10_100
    assert success.error_rate.value == pytest.approx(31 / 10_100)  # 0.307 % > 0.1 %
    assert success.error_rate.to_dict()["action"] == "Investigate immediately"
    assert success.availability.value == pytest.approx(1 - 31 / 10_100)  # < 99.99 %
    assert success.availability.to_dict()["action"] == "Check health endpoints"
    # Worst p95: D2's 450 ms, under 500 ms.
    assert (success.p95_ms.value, success.p95_ms.met, success.p95_ms.sample) == (450.0, True, 8)
    assert success.p95_ms.to_dict()["action"] is None
    # Rolled back: D2 and D6 = 2 of 8 = 25 % > 5 %.
    assert success.rollback_rate.value == pytest.approx(2 / 8)
    assert success.rollback_rate.to_dict()["action"] == "Review deployment process"


def test_weekly_trend_with_empty_weeks_and_deltas(month: ReportResult) -> None:
    """One row per ISO week (the empty ones too), each KPI's change from the week before."""
    trend = month.environment("web").trend
    assert [row.period.label for row in trend] == [
        "2026-W45",
        "2026-W46",
        "2026-W47",
        "2026-W48",
        "2026-W49",
    ]
    kpis = [row.period.kpis() for row in trend]
    # W45 (11-02..11-09) and W49 (11-30..): no deployment, nothing to rate.
    for empty in (kpis[0], kpis[4]):
        assert empty["deployments"] == 0 and empty["change_fail_rate"] is None
    # W46: D1 D2 D3 D4; D2 failed (1/4), recovered in 180 s; D3 is rework (1/4); lead times
    # D1 7 500 and D3 180 300 → median 93 900; errors 26 of 4 500; worst p95 450.
    assert kpis[1]["deployments"] == 4
    assert kpis[1]["change_fail_rate"] == pytest.approx(0.25)
    assert kpis[1]["recovery_time_median_s"] == pytest.approx(180)
    assert kpis[1]["rework_rate"] == pytest.approx(0.25)
    assert kpis[1]["change_lead_time_median_s"] == pytest.approx(93_900)
    assert kpis[1]["error_rate"] == pytest.approx(26 / 4500)
    # W47: D6 only (D5 was blocked), rolled back later: 1/1 failed, 172 800 s to recover.
    assert kpis[2]["deployments"] == 1 and kpis[2]["change_fail_rate"] == 1.0
    assert kpis[2]["recovery_time_median_s"] == pytest.approx(2 * DAY)
    assert trend[2].period.counts.blocked == 1
    # W48: D7 D8 D9; D7 failed (1/3); D7 and D8 are rework (2/3); lead median of 700 500,
    # 3 900 and 14 400 = 14 400.
    assert kpis[3]["change_fail_rate"] == pytest.approx(1 / 3)
    assert kpis[3]["rework_rate"] == pytest.approx(2 / 3)
    assert kpis[3]["change_lead_time_median_s"] == pytest.approx(14_400)
    # Week over week: W47 - W46 deployments 1 - 4 = -3, fail rate 1 - 0.25 = +0.75;
    # W48 - W47: 3 - 1 = +2, fail rate 1/3 - 1 = -2/3; W49 has no rate to compare.
    assert trend[0].deltas is None
    assert trend[2].deltas is not None and trend[3].deltas is not None
    assert trend[4].deltas is not None
    assert trend[2].deltas["deployments"] == -3
    assert trend[2].deltas["change_fail_rate"] == pytest.approx(0.75)
    assert trend[3].deltas["deployments"] == 2
    assert trend[3].deltas["change_fail_rate"] == pytest.approx(-2 / 3)
    assert trend[4].deltas["change_fail_rate"] is None
    # The week so far counts its days so far: Mon 11-30 00:00 → Fri 12-04 12:00 = 4.5 days.
    assert trend[4].period.dora.deployment_frequency.days == pytest.approx(4.5)


def test_monthly_rows_and_a_git_that_cannot_be_read(tmp_path: Path) -> None:
    """By month the rows are calendar months; without the repository the lead time is not
    made up: every verified deployment is counted as unmeasured, with the reason."""
    project = untidy_month(tmp_path / "shop")
    git_dir = project.root / ".git"
    git_dir.rename(project.root / "git-moved")
    result = api.report("web", days=DAYS, by="month", until=UNTIL, config=project.config)
    web = result.environment("web")
    assert [row.period.label for row in web.trend] == ["2026-11", "2026-12"]
    # November holds all eight deployments; December none.
    assert web.trend[0].period.dora.deployment_frequency.deployments == 8
    lead = web.totals.dora.change_lead_time
    # D1 D3 D4 D6 D7 D8 D9 were verified: 7 unmeasured, no figure, the reason given.
    assert (lead.sample, lead.unmeasured, lead.median_s, lead.tier) == (0, 7, None, None)
    assert lead.note is not None and "git not reachable" in lead.note
    assert "is not a git repository (app.repository)" in lead.note
    # The other measures do not need git.
    assert web.totals.dora.change_fail_rate.count == 3
    assert result.generated_at == UNTIL
    assert datetime(2026, 11, 6, 12, tzinfo=UTC) == UNTIL - (UNTIL - web.totals.start)
