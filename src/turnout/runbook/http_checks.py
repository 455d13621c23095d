"""HTTP checks against a slot or production: status code and JSON fields."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from turnout.config.checks import HttpCheck


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome, JSON-ready through `to_dict`."""

    url: str
    ok: bool
    status: int | None
    problem: str = ""
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the journal."""
        return {
            "url": self.url,
            "ok": self.ok,
            "status": self.status,
            "problem": self.problem,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


def run_check(client: httpx.Client, base_url: str, check: HttpCheck) -> CheckResult:
    """Send the check's request and compare status and JSON fields."""
    url = base_url.rstrip("/") + check.path
    started = time.perf_counter()
    try:
        response = client.request(check.method, url, timeout=check.timeout)
    except httpx.HTTPError as exc:
        return CheckResult(url, False, None, f"no answer: {type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != check.expect_status:
        return CheckResult(
            url,
            False,
            response.status_code,
            f"status {response.status_code}, expected {check.expect_status}",
            elapsed,
        )
    if check.expect_json:
        try:
            body = response.json()
        except ValueError:
            return CheckResult(url, False, response.status_code, "body is not JSON", elapsed)
        for key, expected in check.expect_json.items():
            actual = body.get(key) if isinstance(body, dict) else None
            if actual != expected:
                return CheckResult(
                    url,
                    False,
                    response.status_code,
                    f"{key} is {actual!r}, expected {expected!r}",
                    elapsed,
                )
    return CheckResult(url, True, response.status_code, "", elapsed)


def run_checks(client: httpx.Client, base_url: str, checks: list[HttpCheck]) -> list[CheckResult]:
    """Every check, in order (all are run so the journal shows the whole picture)."""
    return [run_check(client, base_url, check) for check in checks]


def failures(results: list[CheckResult]) -> str:
    """A one-line description of the failed checks ('' when all passed)."""
    return "; ".join(f"{r.url}: {r.problem}" for r in results if not r.ok)
