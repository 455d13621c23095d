"""HTTP checks against a slot or production: status code and JSON fields.

A key of `expect_json` is a dotted path into the document (`datasette.version`,
`items.0.name`: digits index lists); a key that exists as written wins over a path.
`{version}` in a check's path or in an expected text is replaced by the version the
checked slot should run, so a check can confirm it serves the release it was given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from turnout.config.checks import HttpCheck

if TYPE_CHECKING:
    from turnout.targets.protocol import Target


def check_client(target: Target, timeout: float = 5.0) -> httpx.Client:
    """An HTTP client that reaches the target's slot URLs (over the network, or in-process
    for a target that serves them itself); redirects are answers, never followed."""
    transport = target.transport()
    if transport is None:
        return httpx.Client(timeout=timeout, follow_redirects=False)
    return httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)


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


VERSION_PLACEHOLDER = "{version}"
_MISSING = object()


def fill_version(value: Any, version: str | None) -> Any:
    """`{version}` in a text (or in the texts of a list or table) replaced by `version`."""
    if version is None:
        return value
    if isinstance(value, str):
        return value.replace(VERSION_PLACEHOLDER, version)
    if isinstance(value, list):
        return [fill_version(item, version) for item in value]
    if isinstance(value, dict):
        return {key: fill_version(item, version) for key, item in value.items()}
    return value


def json_field(document: Any, key: str) -> Any:
    """The value at `key` (a top-level name, else a dotted path); `_MISSING` when absent."""
    if isinstance(document, dict) and key in document:
        return document[key]
    current = document
    for part in key.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def run_check(
    client: httpx.Client, base_url: str, check: HttpCheck, *, version: str | None = None
) -> CheckResult:
    """Send the check's request and compare status and JSON fields.

    `version` is what the slot should run: it fills `{version}` in the check.
    """
    url = base_url.rstrip("/") + fill_version(check.path, version)
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
        for key, wanted in check.expect_json.items():
            expected = fill_version(wanted, version)
            actual = json_field(body, key)
            if actual is _MISSING or actual != expected:
                found = "missing" if actual is _MISSING else f"{actual!r}"
                return CheckResult(
                    url,
                    False,
                    response.status_code,
                    f"{key} is {found}, expected {expected!r}",
                    elapsed,
                )
    return CheckResult(url, True, response.status_code, "", elapsed)


def run_checks(
    client: httpx.Client, base_url: str, checks: list[HttpCheck], *, version: str | None = None
) -> list[CheckResult]:
    """Every check, in order (all are run so the journal shows the whole picture)."""
    return [run_check(client, base_url, check, version=version) for check in checks]


def failures(results: list[CheckResult]) -> str:
    """A one-line description of the failed checks ('' when all passed)."""
    return "; ".join(f"{r.url}: {r.problem}" for r in results if not r.ok)
