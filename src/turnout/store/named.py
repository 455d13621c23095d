"""Small named records (a watch's progress, an attestation) that need no table of their own."""

from __future__ import annotations

from typing import Any

from turnout.store.base import StoreBase
from turnout.store.sql import document, dumps


class NamedRecordStore(StoreBase):
    """Put and get a JSON document by key."""

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store a small named record (replacing one of the same key)."""
        params = {"key": key, "value": dumps(value), "at": self.db.stamp(self.now())}
        with self.db.transaction() as tx:
            changed = tx.run(
                "UPDATE kv SET value = :value, updated_at = :at WHERE key = :key", params
            )
            if not changed:
                tx.run("INSERT INTO kv (key, value, updated_at) VALUES (:key, :value, :at)", params)

    def get(self, key: str) -> dict[str, Any] | None:
        """A small named record, if stored."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT value FROM kv WHERE key = :key", {"key": key})
        return None if row is None else dict(document(row["value"]) or {})
