"""Window verdicts across 2026-2028: DST changes, Fridays, month and quarter ends, holidays.

Every expected verdict and rule set below was worked out by hand from the runbook's
rules and a calendar (US federal holidays; DST in America/Los_Angeles starts on
2026-03-08, 2027-03-14, 2028-03-12 and ends on 2026-11-01, 2027-11-07, 2028-11-05).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from turnout.config.policy import PolicyConfig
from turnout.policy.rules import WindowKind
from turnout.policy.windows import local_time, next_start, window_verdict

POLICY = PolicyConfig()

BEST = {"best", "acceptable"}
ACC = {"acceptable"}
OUT = {"avoid.outside-windows"}
WEEKEND = {"avoid.time", "avoid.outside-windows"}
QE = "freeze.quarter-end"
ME = "avoid.month-end"
TG = "freeze.thanksgiving-week"
HOL = {"freeze.holiday", "avoid.holiday"}

# (instant: "...Z" is UTC, otherwise local wall time in America/Los_Angeles, verdict, rules)
TABLE: list[tuple[str, str, set[str]]] = [
    # 2026: spring forward on Sunday 2026-03-08
    ("2026-03-06T17:30:00Z", "acceptable", ACC),  # Fri 09:30 PST
    ("2026-03-08T10:30:00Z", "avoid", WEEKEND),  # Sun 03:30 PDT, just after the change
    ("2026-03-09T15:59:00Z", "avoid", OUT),  # Mon 08:59 PDT (09:59 if it were still PST)
    ("2026-03-09T16:00:00Z", "acceptable", ACC),  # Mon 09:00 PDT
    ("2026-03-10T16:59:00Z", "acceptable", ACC),  # Tue 09:59 PDT
    ("2026-03-10T17:00:00Z", "best", BEST),  # Tue 10:00 PDT
    ("2026-03-31T18:00:00Z", "frozen", {QE, ME} | BEST),  # Tue 11:00, last day of Q1
    ("2026-06-19T17:00:00Z", "avoid", {"avoid.holiday"} | ACC),  # Juneteenth (Fri)
    ("2026-07-03T17:00:00Z", "frozen", HOL | ACC),  # Independence Day (observed)
    ("2026-07-15T09:00", "acceptable", ACC),  # Wed
    ("2026-07-15T10:00", "best", BEST),
    ("2026-07-15T13:59", "best", BEST),
    ("2026-07-15T14:00", "acceptable", ACC),
    ("2026-07-15T16:00", "avoid", OUT),
    ("2026-09-28T10:00", "frozen", {QE} | ACC),  # Mon, first of the last 3 days of Q3
    ("2026-09-30T11:00", "frozen", {QE, ME} | BEST),  # Wed, last day of a month and of Q3
    ("2026-10-12T10:00", "avoid", {"avoid.holiday"} | ACC),  # Columbus Day
    ("2026-10-30T23:00:00Z", "avoid", WEEKEND),  # Fri 16:00 PDT
    # fall back on Sunday 2026-11-01 at 09:00 UTC: 01:30 happens twice
    ("2026-11-01T09:30:00Z", "avoid", WEEKEND),  # Sun 01:30 PST (second 01:30)
    ("2026-11-02T16:30:00Z", "avoid", OUT),  # Mon 08:30 PST (09:30 if it were still PDT)
    ("2026-11-02T17:00:00Z", "acceptable", ACC),  # Mon 09:00 PST
    ("2026-11-03T17:30:00Z", "acceptable", ACC),  # Tue 09:30 PST (10:30 under PDT)
    ("2026-11-11T11:00", "avoid", {"avoid.holiday"} | BEST),  # Veterans Day (Wed)
    ("2026-11-20T13:59", "acceptable", ACC),  # Friday 13:59
    ("2026-11-20T14:00", "avoid", {"avoid.time"} | ACC),  # Friday 14:00
    ("2026-11-23T10:00", "frozen", {TG} | ACC),  # Monday of Thanksgiving week
    ("2026-11-26T12:00", "frozen", {TG} | HOL | BEST),  # Thanksgiving
    ("2026-11-30T10:00", "frozen", {TG, ME} | ACC),  # Cyber Monday, last day of November
    ("2026-12-01T10:00", "best", BEST),
    ("2026-12-25T10:00", "frozen", HOL | ACC),  # Christmas (Fri)
    ("2026-12-28T10:00", "acceptable", ACC),  # Mon before the last 3 days of Q4
    ("2026-12-29T10:00", "frozen", {QE} | BEST),
    # 2027: spring forward on 2027-03-14, fall back on 2027-11-07
    ("2027-01-01T10:00", "frozen", HOL | ACC),  # New Year's Day (Fri)
    ("2027-01-18T10:00", "avoid", {"avoid.holiday"} | ACC),  # Martin Luther King Jr. Day
    ("2027-03-15T16:00:00Z", "acceptable", ACC),  # Mon 09:00 PDT
    ("2027-03-16T16:59:00Z", "acceptable", ACC),  # Tue 09:59 PDT
    ("2027-03-16T17:00:00Z", "best", BEST),  # Tue 10:00 PDT
    ("2027-03-31T11:00", "frozen", {QE, ME} | BEST),  # Wed, end of Q1
    ("2027-06-30T11:00", "frozen", {QE, ME} | BEST),  # Wed, end of Q2
    ("2027-07-05T10:00", "frozen", HOL | ACC),  # Independence Day (observed, Mon)
    ("2027-08-31T11:00", "avoid", {ME} | BEST),  # Tue, end of a month that ends no quarter
    ("2027-11-07T09:30:00Z", "avoid", WEEKEND),  # Sun 01:30 PST
    ("2027-11-08T16:59:00Z", "avoid", OUT),  # Mon 08:59 PST
    ("2027-11-08T17:00:00Z", "acceptable", ACC),  # Mon 09:00 PST
    ("2027-11-19T10:00", "acceptable", ACC),  # Fri before Thanksgiving week
    ("2027-11-22T09:30", "frozen", {TG} | ACC),  # Monday of Thanksgiving week
    ("2027-11-29T10:00", "frozen", {TG} | ACC),  # Cyber Monday
    ("2027-11-30T11:00", "avoid", {ME} | BEST),  # Tue after Cyber Monday, last of November
    ("2027-12-24T10:00", "frozen", HOL | ACC),  # Christmas Day (observed, Fri)
    ("2027-12-31T10:00", "frozen", {QE, ME} | HOL | ACC),  # New Year's Day (observed)
    # 2028: spring forward on 2028-03-12
    ("2028-01-15T11:00", "avoid", WEEKEND),  # Saturday
    ("2028-03-08T18:00:00Z", "best", BEST),  # Wed 10:00 PST
    ("2028-03-10T13:59", "acceptable", ACC),  # Friday 13:59
    ("2028-03-10T14:00", "avoid", {"avoid.time"} | ACC),  # Friday 14:00
    ("2028-03-13T15:30:00Z", "avoid", OUT),  # Mon 08:30 PDT
    ("2028-03-14T17:00:00Z", "best", BEST),  # Tue 10:00 PDT
    ("2028-03-28T11:00", "best", BEST),  # Tue, the day before the last 3 of Q1
    ("2028-03-29T11:00", "frozen", {QE} | BEST),
    ("2028-05-31T11:00", "avoid", {ME} | BEST),  # last day of May is a Wednesday
    ("2028-06-30T10:00", "frozen", {QE, ME} | ACC),
    ("2028-07-04T10:00", "frozen", HOL | BEST),  # Independence Day (Tue)
    ("2028-10-09T10:00", "avoid", {"avoid.holiday"} | ACC),  # Columbus Day
    ("2028-11-20T10:00", "frozen", {TG} | ACC),
    ("2028-11-27T10:00", "frozen", {TG} | ACC),  # Cyber Monday
    ("2028-11-28T10:00", "best", BEST),
    ("2028-11-30T10:00", "avoid", {ME} | BEST),
    ("2028-12-25T10:00", "frozen", HOL | ACC),
]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(("instant", "verdict", "rules"), TABLE, ids=[t[0] for t in TABLE])
def test_verdict_table(instant: str, verdict: str, rules: set[str]) -> None:
    """Each instant gets the hand-computed verdict and exactly the expected rules fire."""
    result = window_verdict(POLICY, _instant(instant), with_next=False)
    fired = {r.rule for r in result.rules}
    assert result.kind.value == verdict, result.summary
    assert fired == rules, [r.to_dict() for r in result.rules]


def test_table_is_large_enough() -> None:
    """The table covers at least 40 instants over three years."""
    assert len(TABLE) >= 40
    assert {t[0][:4] for t in TABLE} == {"2026", "2027", "2028"}


def test_local_time_follows_dst() -> None:
    """The same UTC hour is 10:00 local before spring forward and 11:00 after it."""
    before = local_time(POLICY, datetime(2026, 3, 6, 18, tzinfo=UTC))
    after = local_time(POLICY, datetime(2026, 3, 10, 18, tzinfo=UTC))
    assert (before.hour, before.tzname()) == (10, "PST")
    assert (after.hour, after.tzname()) == (11, "PDT")


def test_naive_instant_is_local_wall_time() -> None:
    """A naive --at value is the wall clock in the policy's timezone."""
    verdict = window_verdict(POLICY, datetime(2026, 7, 15, 10, 0), with_next=False)
    assert verdict.at.utcoffset() is not None
    assert verdict.at.astimezone(UTC) == datetime(2026, 7, 15, 17, 0, tzinfo=UTC)


def test_next_windows_skip_weekend_across_spring_forward() -> None:
    """From Friday 14:00 PST the next acceptable start is Monday 09:00 PDT, best Tuesday 10:00."""
    verdict = window_verdict(POLICY, datetime(2026, 3, 6, 22, 0, tzinfo=UTC))
    assert verdict.kind is WindowKind.AVOID
    assert verdict.next_acceptable == datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
    assert verdict.next_best == datetime(2026, 3, 10, 17, 0, tzinfo=UTC)


def test_next_windows_across_fall_back() -> None:
    """From Friday 16:00 PDT before the fall-back weekend, Monday 09:00 PST is 17:00 UTC."""
    verdict = window_verdict(POLICY, datetime(2026, 10, 30, 23, 0, tzinfo=UTC))
    assert verdict.next_acceptable == datetime(2026, 11, 2, 17, 0, tzinfo=UTC)
    assert verdict.next_best == datetime(2026, 11, 3, 18, 0, tzinfo=UTC)


def test_next_windows_after_thanksgiving_week() -> None:
    """Inside the Black Friday week the next windows open on the Tuesday after Cyber Monday."""
    verdict = window_verdict(POLICY, datetime(2026, 11, 23, 10, 0))
    assert verdict.kind is WindowKind.FROZEN
    assert verdict.next_acceptable == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert verdict.next_best == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def test_next_windows_after_quarter_end_and_new_year() -> None:
    """From the Q4 freeze the next acceptable start skips New Year's Day and the weekend."""
    verdict = window_verdict(POLICY, datetime(2026, 12, 30, 10, 0))
    assert verdict.next_acceptable == datetime(2027, 1, 4, 17, 0, tzinfo=UTC)
    assert verdict.next_best == datetime(2027, 1, 5, 18, 0, tzinfo=UTC)


def test_next_best_is_now_inside_a_best_window() -> None:
    """Inside a best window the next best start is the instant itself."""
    at = datetime(2026, 12, 1, 11, 15)
    verdict = window_verdict(POLICY, at)
    assert verdict.next_best == verdict.at == verdict.next_acceptable


def test_next_start_from_acceptable_to_best_same_day() -> None:
    """From Tuesday 09:15 the next best start is 10:00 the same day."""
    found = next_start(POLICY, datetime(2026, 12, 1, 9, 15), {WindowKind.BEST})
    assert found is not None
    assert (found.date().isoformat(), found.hour, found.minute) == ("2026-12-01", 10, 0)


def test_custom_window_at_a_skipped_hour_starts_at_the_change() -> None:
    """A range starting at 02:30 on the spring-forward day opens at 03:00 PDT, the change."""
    policy = PolicyConfig.model_validate(
        {
            "windows": {
                "best": [{"days": ["sun"], "start": "02:30", "end": "05:00"}],
                "acceptable": [],
                "avoid": [],
                "month_end_days": 0,
            }
        }
    )
    found = next_start(policy, datetime(2026, 3, 8, 0, 0), {WindowKind.BEST})
    assert found == datetime(2026, 3, 8, 10, 0, tzinfo=UTC)


def test_window_overrides_read_back_from_their_recorded_text() -> None:
    """The journal's "emergency+incident" reads back as the two overrides, in order."""
    from turnout.policy.rules import WindowOverride

    both = (WindowOverride.EMERGENCY, WindowOverride.INCIDENT)
    assert WindowOverride.parse("+".join(both)) == both
    assert WindowOverride.parse(None) == () == WindowOverride.parse("")
