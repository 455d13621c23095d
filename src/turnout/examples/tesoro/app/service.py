"""The rewards service: log in, record transactions, turn them into reward points."""

from __future__ import annotations

import math
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import release
from .db import Database

JsonBody = dict[str, Any]


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Header names in lower case."""
    body: JsonBody = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    """A JSON response."""

    status: int
    body: JsonBody


class HttpError(Exception):
    """Ends a request with this status and an {"error": message} body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Regression(RuntimeError):
    """The fault 1.2.0 ships (see release.FAULT_RATE)."""


Handler = Callable[[Request], Response]

POINTS_PER_UNIT = 1
"""Reward points per whole currency unit of a transaction."""
RECENT_LIMIT = 20


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class FaultInjector:
    """Decides which transaction requests fail: a seeded sequence, so runs are reproducible.

    With a switch file (TESORO_FAULT_FILE) the rate can change while the process runs:
    when the file holds a number, that is the rate; when it is missing, the release's
    own rate applies. It is looked at no more than every SWITCH_EVERY seconds.
    """

    SWITCH_EVERY = 0.2

    def __init__(self, rate: float, seed: int = 8, switch: Path | None = None) -> None:
        self.release_rate = rate
        self.rate = rate
        self.switch = switch
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._looked_at = -math.inf

    def _current(self) -> float:
        if self.switch is None:
            return self.rate
        now = time.monotonic()
        if now - self._looked_at >= self.SWITCH_EVERY:
            self._looked_at = now
            try:
                self.rate = min(max(float(self.switch.read_text().strip() or 0), 0.0), 1.0)
            except FileNotFoundError:
                self.rate = self.release_rate
            except (OSError, ValueError):
                pass  # a file being written, or not a number: keep the last rate
        return self.rate

    def check(self) -> None:
        """Raise the regression for about `rate` of the calls."""
        if self._current() <= 0:
            return
        with self._lock:
            hit = self._random.random() < self.rate
        if hit:
            raise Regression("transaction serializer lost its currency context")


class Service:
    """Every endpoint of tesoro, independent of the HTTP plumbing."""

    def __init__(self, db: Database, fault_seed: int = 8, fault_switch: Path | None = None) -> None:
        self.db = db
        self.started = time.monotonic()
        self.faults = FaultInjector(release.FAULT_RATE, fault_seed, fault_switch)
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "/health"): self.health,
            ("GET", "/api/health"): self.api_health,
            ("GET", "/api/transactions/health"): self.transactions_health,
            ("GET", "/api/rewards/status"): self.rewards_status,
            ("GET", "/api/diagnostics/database"): self.database_diagnostics,
            ("POST", "/api/login"): self.login,
            ("POST", "/api/transactions"): self.create_transaction,
            ("GET", "/api/transactions"): self.my_transactions,
            ("GET", "/api/transactions/recent"): self.recent_transactions,
            ("POST", "/api/rewards/process"): self.process_reward,
            ("GET", "/api/rewards"): self.read_rewards,
        }

    def handle(self, request: Request) -> Response:
        """Route a request; unknown paths are 404, wrong methods 405."""
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            if any(path == request.path for _, path in self.routes):
                raise HttpError(405, f"method {request.method} not allowed on {request.path}")
            raise HttpError(404, f"no such endpoint: {request.path}")
        return handler(request)

    # Health -------------------------------------------------------------------------------

    def health(self, request: Request) -> Response:
        """Liveness: the process answers. The runbook's smoke test reads `status`."""
        return Response(200, {"status": "healthy", "version": release.VERSION})

    def api_health(self, request: Request) -> Response:
        """The API layer is up, with uptime and the features of this release."""
        return Response(
            200,
            {
                "status": "healthy",
                "version": release.VERSION,
                "uptime_s": round(time.monotonic() - self.started, 3),
                "features": {"rewards": release.REWARDS},
            },
        )

    def transactions_health(self, request: Request) -> Response:
        """The transactions table answers a query."""
        try:
            with self.db.connect() as conn:
                conn.execute("SELECT id FROM transactions ORDER BY id DESC LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            return Response(503, {"status": "unhealthy", "error": str(exc)})
        return Response(200, {"status": "healthy", "version": release.VERSION})

    def rewards_status(self, request: Request) -> Response:
        """Whether rewards work here: available, migration-pending, or not in this version.

        Always 200 when the service itself is fine: a new version is smoke-tested before its
        migration runs (expand first), and 1.0.0 predates rewards."""
        if not release.REWARDS:
            return Response(200, {"status": "not-available", "version": release.VERSION})
        if not self.db.has_table("rewards"):
            return Response(
                200,
                {
                    "status": "migration-pending",
                    "version": release.VERSION,
                    "missing": "V001__add_rewards_table.sql",
                },
            )
        return Response(200, {"status": "available", "version": release.VERSION})

    def database_diagnostics(self, request: Request) -> Response:
        """Connect to the database and run a query; 503 when that fails."""
        began = time.perf_counter()
        try:
            with self.db.connect() as conn:
                conn.execute("SELECT 1").fetchone()
                tables = [
                    str(row[0])
                    for row in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                    )
                ]
        except sqlite3.Error as exc:
            return Response(503, {"status": "unhealthy", "engine": "sqlite", "error": str(exc)})
        return Response(
            200,
            {
                "status": "healthy",
                "engine": "sqlite",
                "sqlite_version": sqlite3.sqlite_version,
                "path": str(self.db.path),
                "tables": tables,
                "query_ms": round((time.perf_counter() - began) * 1000, 3),
            },
        )

    # Sessions -----------------------------------------------------------------------------

    def login(self, request: Request) -> Response:
        """A token for the user (no passwords: this is a sample)."""
        user = request.body.get("user")
        if not isinstance(user, str) or not user.strip() or len(user) > 100:
            raise HttpError(400, 'body must be {"user": "<name>"} (1-100 characters)')
        token = secrets.token_urlsafe(24)
        with self.db.connect() as conn:
            conn.execute(
                "INSERT INTO sessions (token, username, created_at) VALUES (?, ?, ?)",
                (token, user, _now()),
            )
        return Response(200, {"token": token, "user": user})

    def _user(self, request: Request) -> str:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HttpError(401, "missing Authorization: Bearer <token> (POST /api/login)")
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT username FROM sessions WHERE token = ?", (token.strip(),)
            ).fetchone()
        if row is None:
            raise HttpError(401, "unknown or expired token")
        return str(row["username"])

    # Transactions -------------------------------------------------------------------------

    def create_transaction(self, request: Request) -> Response:
        """Record a purchase of `amount` for the logged-in user."""
        user = self._user(request)
        self.faults.check()
        amount = request.body.get("amount")
        if (
            isinstance(amount, bool)
            or not isinstance(amount, int | float)
            or not 0 < amount <= 1_000_000
        ):
            raise HttpError(400, 'body must be {"amount": <number between 0 and 1000000>}')
        cents = round(amount * 100)
        created = _now()
        with self.db.connect() as conn:
            cursor = conn.execute(
                "INSERT INTO transactions (username, amount_cents, created_at) VALUES (?, ?, ?)",
                (user, cents, created),
            )
        return Response(
            201,
            {"id": cursor.lastrowid, "user": user, "amount": cents / 100, "created_at": created},
        )

    def my_transactions(self, request: Request) -> Response:
        """The logged-in user's latest transactions."""
        user = self._user(request)
        self.faults.check()
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT id, username, amount_cents, created_at FROM transactions"
                " WHERE username = ? ORDER BY id DESC LIMIT ?",
                (user, RECENT_LIMIT),
            ).fetchall()
        return Response(200, {"user": user, "transactions": [_transaction(r) for r in rows]})

    def recent_transactions(self, request: Request) -> Response:
        """The latest transactions of everyone: a cheap read for steady background traffic."""
        self.faults.check()
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT id, username, amount_cents, created_at FROM transactions"
                " ORDER BY id DESC LIMIT ?",
                (RECENT_LIMIT,),
            ).fetchall()
        return Response(200, {"transactions": [_transaction(r) for r in rows]})

    # Rewards ------------------------------------------------------------------------------

    def _require_rewards(self) -> None:
        if not release.REWARDS:
            raise HttpError(404, f"rewards are not available in tesoro {release.VERSION}")
        if not self.db.has_table("rewards"):
            raise HttpError(
                503, "rewards table missing: migration V001__add_rewards_table.sql not applied"
            )

    def process_reward(self, request: Request) -> Response:
        """Turn one of the user's transactions into reward points (once per transaction)."""
        self._require_rewards()
        user = self._user(request)
        transaction_id = request.body.get("transaction_id")
        if isinstance(transaction_id, bool) or not isinstance(transaction_id, int):
            raise HttpError(400, 'body must be {"transaction_id": <integer>}')
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT amount_cents FROM transactions WHERE id = ? AND username = ?",
                (transaction_id, user),
            ).fetchone()
            if row is None:
                raise HttpError(404, f"no transaction {transaction_id} for user {user}")
            points = int(row["amount_cents"]) // 100 * POINTS_PER_UNIT
            inserted = conn.execute(
                "INSERT OR IGNORE INTO rewards (transaction_id, username, points, created_at)"
                " VALUES (?, ?, ?, ?)",
                (transaction_id, user, points, _now()),
            ).rowcount
            reward = conn.execute(
                "SELECT transaction_id, username, points, created_at FROM rewards"
                " WHERE transaction_id = ?",
                (transaction_id,),
            ).fetchone()
        return Response(201 if inserted else 200, {"reward": _reward(reward)})

    def read_rewards(self, request: Request) -> Response:
        """The user's point balance and latest rewards."""
        self._require_rewards()
        user = self._user(request)
        asked = request.query.get("user", user)
        if asked != user:
            raise HttpError(403, "a token can only read its own user's rewards")
        with self.db.connect() as conn:
            total = conn.execute(
                "SELECT COALESCE(SUM(points), 0) FROM rewards WHERE username = ?", (user,)
            ).fetchone()[0]
            rows = conn.execute(
                "SELECT transaction_id, username, points, created_at FROM rewards"
                " WHERE username = ? ORDER BY id DESC LIMIT ?",
                (user, RECENT_LIMIT),
            ).fetchall()
        return Response(
            200, {"user": user, "points": int(total), "rewards": [_reward(r) for r in rows]}
        )


def _transaction(row: sqlite3.Row) -> JsonBody:
    return {
        "id": row["id"],
        "user": row["username"],
        "amount": row["amount_cents"] / 100,
        "created_at": row["created_at"],
    }


def _reward(row: sqlite3.Row) -> JsonBody:
    return {
        "transaction_id": row["transaction_id"],
        "user": row["username"],
        "points": row["points"],
        "created_at": row["created_at"],
    }
