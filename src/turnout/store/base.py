"""What every part of the store shares: the database, the clock, and row conversion."""

from __future__ import annotations

from datetime import datetime

from turnout.clock import Clock, SystemClock
from turnout.store.sql import Database


class StoreBase:
    """The database and clock each concern of the store works with."""

    def __init__(self, database: Database, clock: Clock | None = None) -> None:
        self.db = database
        self.clock = clock or SystemClock()

    def now(self) -> datetime:
        """The store's clock."""
        return self.clock.now()

    @property
    def url(self) -> str:
        """Where the store is, for people (no password)."""
        return self.db.url
