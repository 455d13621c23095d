"""Walk tesoro's critical path against a running instance (runbook Phase 5.4).

    python e2e.py http://127.0.0.1:8080      # or: TURNOUT_URL=... python e2e.py

1. health  2. log in  3. create a transaction  4. rewards status
5. process the reward  6. read the reward back

Prints one line per step; exit 0 when every step passed, 1 when one failed, 2 on bad usage.
A version without rewards (1.0.0 answers "not-available") skips steps 5 and 6; a version whose
rewards migration is missing ("migration-pending") fails.
Standard library only, so it runs wherever Python 3.11 does.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

TIMEOUT = 10.0
AMOUNT = 42.5
EXPECTED_POINTS = 42


class StepFailed(Exception):
    """A step of the critical path did not behave."""


def call(
    base: str, method: str, path: str, body: dict[str, Any] | None = None, token: str = ""
) -> tuple[int, dict[str, Any]]:
    """One JSON request; returns the status and the decoded body (HTTP errors included)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StepFailed(f"{method} {path}: cannot connect ({reason})") from None
    try:
        decoded = json.loads(raw) if raw else {}
    except ValueError:
        raise StepFailed(
            f"{method} {path}: HTTP {status}, body is not JSON: {raw[:200]!r}"
        ) from None
    if not isinstance(decoded, dict):
        raise StepFailed(f"{method} {path}: HTTP {status}, expected a JSON object")
    return status, decoded


def expect(status: int, body: dict[str, Any], wanted: int, what: str) -> None:
    """Fail the step unless the status is the wanted one."""
    if status != wanted:
        detail = body.get("error") or json.dumps(body)[:200]
        raise StepFailed(f"{what}: HTTP {status} (expected {wanted}): {detail}")


def run(base: str) -> int:
    """Every step in order; the exit code."""
    base = base.rstrip("/")
    user = f"e2e-{uuid.uuid4().hex[:8]}"
    state: dict[str, Any] = {}

    def health() -> str:
        status, body = call(base, "GET", "/health")
        expect(status, body, 200, "GET /health")
        if body.get("status") != "healthy":
            raise StepFailed(f"GET /health: status is {body.get('status')!r}, not 'healthy'")
        state["version"] = body.get("version", "?")
        return f"healthy, version {state['version']}"

    def login() -> str:
        status, body = call(base, "POST", "/api/login", {"user": user})
        expect(status, body, 200, "POST /api/login")
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise StepFailed("POST /api/login: no token in the answer")
        state["token"] = token
        return f"logged in as {user}"

    def create_transaction() -> str:
        status, body = call(
            base, "POST", "/api/transactions", {"amount": AMOUNT}, token=state["token"]
        )
        expect(status, body, 201, "POST /api/transactions")
        if not isinstance(body.get("id"), int) or body.get("amount") != AMOUNT:
            raise StepFailed(f"POST /api/transactions: unexpected answer {body}")
        state["transaction"] = body["id"]
        return f"transaction {body['id']} of {AMOUNT}"

    def rewards_status() -> str:
        status, body = call(base, "GET", "/api/rewards/status")
        expect(status, body, 200, "GET /api/rewards/status")
        state["rewards"] = body.get("status")
        if state["rewards"] == "not-available":
            return f"rewards not in version {state['version']}: steps 5-6 skipped"
        if state["rewards"] != "available":
            raise StepFailed(f"GET /api/rewards/status: rewards are {state['rewards']!r}")
        return "available"

    def process_reward() -> str:
        status, body = call(
            base,
            "POST",
            "/api/rewards/process",
            {"transaction_id": state["transaction"]},
            token=state["token"],
        )
        expect(status, body, 201, "POST /api/rewards/process")
        points = body.get("reward", {}).get("points")
        if points != EXPECTED_POINTS:
            raise StepFailed(f"reward is {points} points, expected {EXPECTED_POINTS}")
        return f"{points} points for transaction {state['transaction']}"

    def read_back() -> str:
        status, body = call(base, "GET", f"/api/rewards?user={user}", token=state["token"])
        expect(status, body, 200, "GET /api/rewards")
        recorded = [
            r for r in body.get("rewards", []) if r.get("transaction_id") == state["transaction"]
        ]
        if not recorded or body.get("points") != EXPECTED_POINTS:
            raise StepFailed(f"reward for transaction {state['transaction']} not recorded: {body}")
        return f"balance {body['points']} points"

    steps = [
        ("health", health),
        ("log in", login),
        ("create transaction", create_transaction),
        ("rewards status", rewards_status),
        ("process reward", process_reward),
        ("verify reward recorded", read_back),
    ]
    print(f"tesoro end-to-end test against {base}", flush=True)
    began = time.perf_counter()
    for number, (name, step) in enumerate(steps, start=1):
        if number > 4 and state.get("rewards") == "not-available":
            print(f"[{number}/{len(steps)}] {name}: skipped", flush=True)
            continue
        started = time.perf_counter()
        try:
            outcome = step()
        except StepFailed as exc:
            print(f"[{number}/{len(steps)}] {name}: FAILED: {exc}", flush=True)
            return 1
        took = (time.perf_counter() - started) * 1000
        print(f"[{number}/{len(steps)}] {name}: ok ({outcome}, {took:.0f} ms)", flush=True)
    print(f"critical path passed in {(time.perf_counter() - began) * 1000:.0f} ms", flush=True)
    return 0


def main(argv: list[str]) -> int:
    """Parse the URL from the arguments or TURNOUT_URL."""
    if len(argv) > 1 and argv[1] in {"-h", "--help"}:
        print(__doc__)
        return 0
    base = argv[1] if len(argv) > 1 else os.environ.get("TURNOUT_URL", "")
    if len(argv) > 2 or not base.startswith(("http://", "https://")):
        print("usage: python e2e.py URL   (or set TURNOUT_URL=http://host:port)", file=sys.stderr)
        return 2
    return run(base)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
