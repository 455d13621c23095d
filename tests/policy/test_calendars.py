"""Freeze calendars: Thanksgiving week, quarter ends, holidays, custom periods, decisions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from turnout.config import EnvironmentConfig
from turnout.config.policy import PolicyConfig
from turnout.config.targets import FakeTargetConfig
from turnout.integrations.incidents import ActiveIncident
from turnout.policy.calendars import quarter_of, thanksgiving, thanksgiving_week
from turnout.policy.flags import DeploymentFlags
from turnout.policy.rules import WindowKind
from turnout.policy.windows import decide_window, window_verdict


def _policy(**data: Any) -> PolicyConfig:
    return PolicyConfig.model_validate(data)


def _rules(policy: PolicyConfig, at: datetime) -> set[str]:
    return {r.rule for r in window_verdict(policy, at, with_next=False).rules}


@pytest.mark.parametrize(
    ("year", "day"),
    [
        (2024, date(2024, 11, 28)),
        (2025, date(2025, 11, 27)),
        (2026, date(2026, 11, 26)),
        (2027, date(2027, 11, 25)),
        (2028, date(2028, 11, 23)),
        (2029, date(2029, 11, 22)),
        (2030, date(2030, 11, 28)),
    ],
)
def test_thanksgiving_week_runs_monday_to_cyber_monday(year: int, day: date) -> None:
    """Thanksgiving is the 4th Thursday; the freeze runs from its Monday to Cyber Monday."""
    assert thanksgiving(year) == day
    start, end = thanksgiving_week(year)
    assert (start.weekday(), end.weekday()) == (0, 0)
    assert (day - start).days == 3 and (end - day).days == 4


def test_thanksgiving_week_bounds_are_inclusive() -> None:
    """The Sunday before and the Tuesday after the week are not frozen by it."""
    policy = PolicyConfig()
    assert "freeze.thanksgiving-week" not in _rules(policy, datetime(2027, 11, 21, 12))
    assert "freeze.thanksgiving-week" in _rules(policy, datetime(2027, 11, 22, 0, 0))
    assert "freeze.thanksgiving-week" in _rules(policy, datetime(2027, 11, 29, 23, 59))
    assert "freeze.thanksgiving-week" not in _rules(policy, datetime(2027, 11, 30, 0, 0))


def test_thanksgiving_week_can_be_switched_off() -> None:
    """freezes.thanksgiving_week = false leaves the Monday of that week acceptable."""
    policy = _policy(freezes={"thanksgiving_week": False})
    assert window_verdict(policy, datetime(2026, 11, 23, 10)).kind is WindowKind.ACCEPTABLE


def test_quarter_end_days_are_configurable() -> None:
    """quarter_end_days = 5 freezes from the 26th of March; 0 switches the rule off."""
    five = _policy(freezes={"quarter_end_days": 5})
    assert "freeze.quarter-end" in _rules(five, datetime(2027, 3, 27, 11))
    assert "freeze.quarter-end" not in _rules(five, datetime(2027, 3, 26, 11))
    off = _policy(freezes={"quarter_end_days": 0})
    assert "freeze.quarter-end" not in _rules(off, datetime(2027, 3, 31, 11))


def test_fiscal_quarters_move_the_quarter_end() -> None:
    """With a fiscal year from February, quarters end in April, July, October and January."""
    policy = _policy(freezes={"fiscal_year_start_month": 2})
    assert quarter_of(date(2027, 2, 1), 2) == 1 and quarter_of(date(2027, 1, 31), 2) == 4
    assert "freeze.quarter-end" in _rules(policy, datetime(2027, 1, 29, 11))
    assert "freeze.quarter-end" not in _rules(policy, datetime(2027, 3, 30, 11))
    assert window_verdict(policy, datetime(2027, 3, 30, 11)).kind is WindowKind.BEST


def test_extra_holiday_dates_freeze() -> None:
    """An extra date (a company holiday) is a freeze day with its own reason."""
    policy = _policy(holidays={"extra_dates": [date(2026, 12, 24)]})
    verdict = window_verdict(policy, datetime(2026, 12, 24, 11), with_next=False)
    assert verdict.kind is WindowKind.FROZEN
    assert any("company holiday" in r.reason for r in verdict.rules)
    assert window_verdict(PolicyConfig(), datetime(2026, 12, 24, 11)).kind is WindowKind.BEST


def test_subdivision_adds_its_holidays() -> None:
    """Patriots' Day is a holiday in US-MA, not in the federal calendar."""
    at = datetime(2027, 4, 19, 10)
    assert window_verdict(PolicyConfig(), at).kind is WindowKind.ACCEPTABLE
    massachusetts = _policy(holidays={"subdivision": "MA"})
    verdict = window_verdict(massachusetts, at, with_next=False)
    assert verdict.kind is WindowKind.AVOID
    assert any("Patriots' Day" in r.reason and "US-MA" in r.reason for r in verdict.rules)


def test_major_holiday_list_and_holiday_periods() -> None:
    """Labor Day can be made major; days_before extends Christmas into a freeze period."""
    labor = _policy(holidays={"major": ["Labor Day"]})
    assert window_verdict(labor, datetime(2026, 9, 7, 10)).kind is WindowKind.FROZEN
    assert window_verdict(labor, datetime(2026, 12, 25, 10)).kind is WindowKind.AVOID
    period = _policy(holidays={"days_before": 2, "days_after": 1})
    assert window_verdict(period, datetime(2026, 12, 23, 11)).kind is WindowKind.FROZEN
    assert window_verdict(period, datetime(2026, 12, 22, 11)).kind is WindowKind.BEST
    assert window_verdict(period, datetime(2026, 12, 26, 11)).kind is WindowKind.FROZEN


def test_no_country_means_no_holidays() -> None:
    """country = "" leaves Independence Day 2028 (a Tuesday) a best window."""
    policy = _policy(holidays={"country": ""})
    assert window_verdict(policy, datetime(2028, 7, 4, 10)).kind is WindowKind.BEST


def test_custom_freeze_period_with_dates_and_times() -> None:
    """Date bounds are whole days; a date-time end releases the freeze at that instant."""
    policy = _policy(
        freezes={
            "periods": [
                {"name": "launch", "start": date(2026, 12, 7), "end": date(2026, 12, 7)},
                {
                    "name": "migration",
                    "start": datetime(2026, 12, 8, 9, 0),
                    "end": datetime(2026, 12, 8, 12, 0),
                    "reason": "data centre move",
                },
            ]
        }
    )
    assert window_verdict(policy, datetime(2026, 12, 7, 23, 59)).kind is WindowKind.FROZEN
    frozen = window_verdict(policy, datetime(2026, 12, 8, 10, 0))
    assert frozen.kind is WindowKind.FROZEN
    assert "data centre move" in frozen.summary
    assert frozen.next_best is not None
    assert (frozen.next_best.hour, frozen.next_best.minute) == (12, 0)
    assert window_verdict(policy, datetime(2026, 12, 8, 12, 0)).kind is WindowKind.BEST


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"windows": {"best": [{"days": ["tue"], "start": "14:00", "end": "10:00"}]}}, "before"),
        ({"windows": {"best": [{"days": ["someday"]}]}}, "days"),
        ({"windows": {"best": [{"days": ["tue"], "start": "25:00"}]}}, "HH:MM"),
        ({"holidays": {"country": "XX"}}, "does not know"),
        ({"holidays": {"country": "US", "subdivision": "ZZ"}}, "does not know"),
        ({"checklist": {"ci_passing": {"source": "sarif"}}}, "not one of"),
    ],
)
def test_bad_policy_is_refused(data: dict[str, Any], fragment: str) -> None:
    """Invalid policy settings are refused with a message saying what is wrong."""
    with pytest.raises(ValidationError, match=fragment):
        PolicyConfig.model_validate(data)


def _env(**policy: Any) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate(
        {"name": "production", "target": FakeTargetConfig(), "policy": policy}
    )


def _flags(**kw: Any) -> DeploymentFlags:
    return DeploymentFlags(deployer="dana", **kw)


INCIDENT = ActiveIncident(source="local", id="7", title="checkout down", opened_at="2026-12-01")


def test_avoid_needs_outside_window_and_reason() -> None:
    """An avoid verdict refuses, naming the flag to use; with the flag and a reason it passes."""
    env = _env()
    verdict = window_verdict(env.policy, datetime(2026, 11, 20, 15, 0))
    refused = decide_window(env, verdict, _flags())
    assert not refused.ok and "--outside-window --reason" in refused.message
    assert "senior-engineer" in refused.message
    assert not decide_window(env, verdict, _flags(outside_window=True)).ok
    allowed = decide_window(env, verdict, _flags(outside_window=True, outside_window_reason="fix"))
    assert allowed.ok and allowed.override == "outside-window"


def test_freeze_refuses_outside_window_and_yields_to_emergency() -> None:
    """--outside-window does not lift a freeze; an emergency does (approval comes later)."""
    env = _env()
    verdict = window_verdict(env.policy, datetime(2026, 12, 29, 10, 0))
    refused = decide_window(env, verdict, _flags(outside_window=True, outside_window_reason="x"))
    assert not refused.ok and "vp-engineering or director" in refused.message
    emergency = decide_window(env, verdict, _flags(emergency=True, reason="outage"))
    assert emergency.ok and emergency.override == "emergency"


def test_incident_is_never_silently_overridden() -> None:
    """An emergency proceeds during an active incident only when it names that incident."""
    env = _env()
    verdict = window_verdict(env.policy, datetime(2026, 12, 1, 10, 0), [INCIDENT])
    assert verdict.kind is WindowKind.FROZEN
    plain = decide_window(env, verdict, _flags())
    assert not plain.ok and "--fixes-incident 7" in plain.message
    emergency = decide_window(env, verdict, _flags(emergency=True, reason="hotfix"))
    assert not emergency.ok and "names it" in emergency.message
    named = decide_window(
        env, verdict, _flags(emergency=True, reason="hotfix", fixes_incidents=("7",))
    )
    assert named.ok and named.override == "emergency+incident"
    assert "local#7" in named.message


def test_advisory_window_still_honours_incidents() -> None:
    """enforce_window = false lets a weekend through but not an active incident."""
    env = _env(enforce_window=False)
    weekend = window_verdict(env.policy, datetime(2026, 12, 5, 10, 0))
    decision = decide_window(env, weekend, _flags())
    assert decision.ok and decision.override == "advisory"
    with_incident = window_verdict(env.policy, datetime(2026, 12, 5, 10, 0), [INCIDENT])
    assert not decide_window(env, with_incident, _flags()).ok
