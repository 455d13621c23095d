"""One deployment per environment: a row in `locks` is the environment's lock."""

from __future__ import annotations

import os
import socket

from turnout.errors import LockHeld
from turnout.store.base import StoreBase
from turnout.store.records import LockRecord
from turnout.store.sql import DuplicateKey, Row, when


def holder_identity(user: str) -> str:
    """Who holds a lock: user, host and process id."""
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def _lock(row: Row) -> LockRecord:
    return LockRecord(
        environment=row["environment"],
        deployment_id=row["deployment_id"],
        holder=row["holder"],
        host=row["host"],
        pid=int(row["pid"]),
        acquired_at=when(row["acquired_at"]),
        heartbeat_at=when(row["heartbeat_at"]),
    )


class LockStore(StoreBase):
    """Take, show, refresh, hand over and release an environment's lock."""

    def acquire_lock(self, environment: str, deployment_id: int | None, holder: str) -> None:
        """Take the environment's lock atomically, or raise LockHeld naming the holder."""
        now = self.db.stamp(self.now())
        try:
            with self.db.transaction() as tx:
                tx.run(
                    "INSERT INTO locks (environment, deployment_id, holder, host, pid,"
                    " acquired_at, heartbeat_at) VALUES (:environment, :deployment_id,"
                    " :holder, :host, :pid, :now, :now)",
                    {
                        "environment": environment,
                        "deployment_id": deployment_id,
                        "holder": holder,
                        "host": socket.gethostname(),
                        "pid": os.getpid(),
                        "now": now,
                    },
                )
        except DuplicateKey:
            held = self.lock(environment)
            if held is None:  # released between our insert and our read: try once more
                return self.acquire_lock(environment, deployment_id, holder)
            raise LockHeld(
                f"environment {environment} is locked by {held.holder}"
                f" (deployment {held.deployment_id})"
                f" since {held.acquired_at:%Y-%m-%d %H:%M:%S} UTC",
                details={
                    "holder": held.holder,
                    "deployment": held.deployment_id,
                    "since": held.acquired_at.isoformat(),
                },
            ) from None
        return None

    def lock(self, environment: str) -> LockRecord | None:
        """The environment's lock, if held."""
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT * FROM locks WHERE environment = :environment",
                {"environment": environment},
            )
        return None if row is None else _lock(row)

    def set_lock_deployment(self, environment: str, holder: str, deployment_id: int) -> None:
        """Attach the deployment id to a lock taken before the deployment row existed."""
        with self.db.transaction() as tx:
            tx.run(
                "UPDATE locks SET deployment_id = :deployment_id"
                " WHERE environment = :environment AND holder = :holder",
                {"deployment_id": deployment_id, "environment": environment, "holder": holder},
            )

    def heartbeat(self, environment: str, holder: str) -> bool:
        """Show that the holder is alive; False when the lock is no longer this holder's."""
        with self.db.transaction() as tx:
            changed = tx.run(
                "UPDATE locks SET heartbeat_at = :now"
                " WHERE environment = :environment AND holder = :holder",
                {"now": self.db.stamp(self.now()), "environment": environment, "holder": holder},
            )
        return bool(changed)

    def release_lock(self, environment: str, holder: str | None = None) -> None:
        """Free the lock (only the holder's, when a holder is given)."""
        with self.db.transaction() as tx:
            if holder is None:
                tx.run(
                    "DELETE FROM locks WHERE environment = :environment",
                    {"environment": environment},
                )
            else:
                tx.run(
                    "DELETE FROM locks WHERE environment = :environment AND holder = :holder",
                    {"environment": environment, "holder": holder},
                )

    def take_over_lock(
        self,
        environment: str,
        expected_holder: str,
        holder: str,
        deployment_id: int | None = None,
    ) -> bool:
        """Replace a (dead) holder by a new one, only if it is still the expected one."""
        now = self.db.stamp(self.now())
        with self.db.transaction() as tx:
            changed = tx.run(
                "UPDATE locks SET holder = :holder, host = :host, pid = :pid,"
                " deployment_id = :deployment_id, acquired_at = :now, heartbeat_at = :now"
                " WHERE environment = :environment AND holder = :expected",
                {
                    "holder": holder,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "deployment_id": deployment_id,
                    "now": now,
                    "environment": environment,
                    "expected": expected_holder,
                },
            )
        return bool(changed)
