"""The environment's lease: one holder at a time, kept alive by heartbeats, taken over
only from a holder that died.

Deployments and the `db` commands hold the same lease, so no migrate or restore runs
under a deployment (and no deployment starts under a restore). A holder on this machine
is dead when its process is gone; one elsewhere when its heartbeat is older than
STALE_AFTER (a live holder beats every HEARTBEAT_SECONDS).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from turnout.clock import Clock, SystemClock
from turnout.errors import LockHeld, LockLost
from turnout.model import DeploymentStatus
from turnout.processes import pid_alive
from turnout.store import Store, holder_identity
from turnout.store.records import AuditAction, LockRecord

HEARTBEAT_SECONDS = 5.0
STALE_AFTER = timedelta(seconds=60)


class TakeOver(StrEnum):
    """How a lease changed hands (the audit action)."""

    DEAD_HOLDER = "lock.take-over"
    """The holder was dead."""
    FORCED = "lock.force-unlock"
    """The holder looked alive and a person forced it (`--force-unlock`)."""


@dataclass(frozen=True)
class Taken:
    """The lease this process took from another holder."""

    previous: LockRecord
    how: TakeOver


class Lease:
    """This process's hold on one environment's lock."""

    def __init__(
        self, store: Store, environment: str, actor: str, *, clock: Clock | None = None
    ) -> None:
        self.store = store
        self.environment = environment
        self.actor = actor
        self.clock = clock or SystemClock()
        self.holder = holder_identity(actor)

    # -- taking it ----------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the free lease, or the lease of a dead holder outside any deployment in flight.

        A dead holder's deployment in flight is left to `resume`, which knows how to
        finish it; anything else raises LockHeld naming the holder.
        """
        try:
            self.store.acquire_lock(self.environment, None, self.holder)
            return
        except LockHeld:
            lock = self.store.lock(self.environment)
            if lock is None or not self.holder_is_dead(lock) or self._in_flight(lock):
                raise
            if not self.store.take_over_lock(self.environment, lock.holder, self.holder):
                raise
            self._audit(
                Taken(lock, TakeOver.DEAD_HOLDER),
                reason="the holder died outside a deployment in flight",
            )

    def take_over(self, *, force: bool = False) -> Taken | None:
        """Take the lease to finish its deployment (`resume`): free, dead, or forced.

        Returns how it was taken from another holder, None when it was free.
        """
        lock = self.store.lock(self.environment)
        if lock is None:
            self.store.acquire_lock(self.environment, None, self.holder)
            return None
        dead = self.holder_is_dead(lock)
        if not dead and not force:
            raise LockHeld(
                f"environment {self.environment} is locked by {lock.holder} (deployment"
                f" {lock.deployment_id}) since {lock.acquired_at:%Y-%m-%d %H:%M:%S} UTC"
                " and the holder is alive; use --force-unlock only if you are sure it is not",
            )
        if not self.store.take_over_lock(
            self.environment, lock.holder, self.holder, lock.deployment_id
        ):
            raise LockHeld(f"environment {self.environment}: the lock changed hands; try again")
        taken = Taken(lock, TakeOver.DEAD_HOLDER if dead else TakeOver.FORCED)
        self._audit(taken, deployment_id=lock.deployment_id)
        return taken

    def attach(self, deployment_id: int) -> None:
        """Name the deployment this lease is held for (taken before its row existed)."""
        self.store.set_lock_deployment(self.environment, self.holder, deployment_id)

    # -- keeping it ---------------------------------------------------------------------
    def keep(self, doing: str) -> None:
        """Refresh the heartbeat before the next action; LockLost if the lease was taken."""
        if self.store.heartbeat(self.environment, self.holder):
            return
        raise LockLost(
            f"environment {self.environment}: the lock was taken over {self.taken_by()}"
            f" while this process ran {doing}; stopping here without changing anything more"
        )

    @contextmanager
    def beating(self) -> Iterator[None]:
        """Refresh the heartbeat in the background while a long action runs."""
        beat = _Heartbeat(self.store, self.environment, self.holder)
        beat.start()
        try:
            yield
        finally:
            beat.stop()

    def release(self) -> None:
        """Free the lease if it is still this process's."""
        self.store.release_lock(self.environment, self.holder)

    @contextmanager
    def held(self) -> Iterator[Lease]:
        """Acquire, beat while the body runs, release (also on failure)."""
        self.acquire()
        try:
            with self.beating():
                yield self
        finally:
            self.release()

    # -- judging holders ----------------------------------------------------------------
    def holder_is_dead(self, lock: LockRecord) -> bool:
        """Whether the lock's holder is gone (its process here, or its heartbeat elsewhere)."""
        if lock.host == socket.gethostname():
            return not pid_alive(lock.pid)
        return self.clock.now() - lock.heartbeat_at > STALE_AFTER

    def taken_by(self) -> str:
        """Who took this process's lease, from the audit log (the lock may be free again)."""
        actions = {t.value for t in TakeOver}
        for row in reversed(self.store.audit_log(self.environment, limit=200)):
            details = row.details or {}
            if row.action in actions and details.get("previous_holder") == self.holder:
                how = "with --force-unlock " if row.action == TakeOver.FORCED else ""
                holder = details.get("holder")
                return (
                    f"{how}by {row.actor}{f' ({holder})' if holder else ''}"
                    f" at {row.at:%Y-%m-%d %H:%M:%S} UTC"
                )
        lock = self.store.lock(self.environment)
        return f"by {lock.holder}" if lock is not None else "by another process"

    def _in_flight(self, lock: LockRecord) -> bool:
        if lock.deployment_id is None:
            return False
        owner = self.store.deployment(lock.deployment_id)
        return owner is not None and not DeploymentStatus(owner.status).finished

    def _audit(
        self, taken: Taken, *, deployment_id: int | None = None, reason: str | None = None
    ) -> None:
        self.store.audit(
            self.actor,
            AuditAction(taken.how.value),
            environment=self.environment,
            deployment_id=deployment_id,
            previous_holder=taken.previous.holder,
            holder=self.holder,
            **({"reason": reason} if reason else {}),
        )


class _Heartbeat:
    """Refreshes the lock's heartbeat from a thread while a long step runs."""

    def __init__(self, store: Store, environment: str, holder: str) -> None:
        self._store = store
        self._environment = environment
        self._holder = holder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="turnout-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self._store.heartbeat(self._environment, self._holder)
            except Exception:  # a missed beat is retried next time
                continue
