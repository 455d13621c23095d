"""Business checks after the swap (runbook Phase 5.5): a number compared with a threshold.

A check that cannot read its number (no data, the source is down) is neither a
pass nor a fail: the caller holds and asks a person, never rolls back for it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from turnout.analysis.prometheus import PrometheusClient
from turnout.config.analysis import BusinessCheck
from turnout.errors import IntegrationError

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class BusinessResult:
    """One check's outcome: ok True/False, or None when its number could not be read."""

    name: str
    ok: bool | None
    value: float | None
    expectation: str
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "ok": self.ok,
            "value": self.value,
            "expectation": self.expectation,
            "problem": self.problem,
        }


def run_business_check(
    check: BusinessCheck,
    *,
    prometheus: PrometheusClient | None,
    client: httpx.Client,
    production_url: str,
    substitutions: dict[str, str],
) -> BusinessResult:
    """Read the check's number and compare it."""
    expectation = f"{check.op} {check.threshold:g}"
    try:
        value = _read(check, prometheus, client, production_url, substitutions)
    except IntegrationError as exc:
        return BusinessResult(check.name, None, None, expectation, exc.message)
    if value is None:
        return BusinessResult(check.name, None, None, expectation, "no data")
    ok = OPS[check.op](value, check.threshold)
    problem = "" if ok else f"{value:g} is not {expectation}"
    return BusinessResult(check.name, ok, value, expectation, problem)


def _read(
    check: BusinessCheck,
    prometheus: PrometheusClient | None,
    client: httpx.Client,
    production_url: str,
    substitutions: dict[str, str],
) -> float | None:
    if check.source == "prometheus":
        if prometheus is None:
            raise IntegrationError("no [analysis.prometheus] server configured")
        query = check.query or ""
        for name, value in substitutions.items():
            query = query.replace("{" + name + "}", value)
        return prometheus.value(query)
    url = check.url or ""
    try:
        if url.startswith("/"):
            # A path on production goes through the target's transport (in-process for fakes).
            url = production_url.rstrip("/") + url
            response = client.get(url, timeout=check.timeout)
        else:
            with httpx.Client(timeout=check.timeout) as outside:
                response = outside.get(url)
    except httpx.HTTPError as exc:
        raise IntegrationError(f"{url}: no answer ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise IntegrationError(f"{url}: HTTP {response.status_code}")
    try:
        body: Any = response.json()
    except ValueError:
        raise IntegrationError(f"{url}: body is not JSON") from None
    for part in (check.field or "").split("."):
        if not isinstance(body, dict) or part not in body:
            return None
        body = body[part]
    if isinstance(body, bool) or not isinstance(body, int | float):
        raise IntegrationError(f"{url}: {check.field} is {body!r}, not a number")
    return float(body)
