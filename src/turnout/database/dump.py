"""Logical dumps: a database's schema and every table's rows, reduced to comparable digests.

Used to prove that a restore brought the database back to the state it had
before the migrations ran. The schema is kept as canonical text lines (so a
difference can be shown); rows are hashed per table in a deterministic order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TableDigest:
    """A table's row count and the sha256 of its rows in a deterministic order."""

    rows: int
    sha256: str


@dataclass(frozen=True)
class LogicalDump:
    """Schema lines and per-table digests of one database at one moment."""

    engine: str
    schema: list[str] = field(default_factory=list)
    tables: dict[str, TableDigest] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """One sha256 over the schema and every table digest."""
        h = hashlib.sha256()
        for line in self.schema:
            h.update(line.encode() + b"\n")
        for name in sorted(self.tables):
            t = self.tables[name]
            h.update(f"{name}\t{t.rows}\t{t.sha256}\n".encode())
        return h.hexdigest()

    def row_counts(self) -> dict[str, int]:
        """Rows per table."""
        return {name: t.rows for name, t in self.tables.items()}

    def differences(self, other: LogicalDump, limit: int = 20) -> list[str]:
        """What differs from `other` (empty when equal), human-readable."""
        out: list[str] = []
        mine, theirs = set(self.schema), set(other.schema)
        out += [f"schema only before: {line}" for line in sorted(mine - theirs)]
        out += [f"schema only after: {line}" for line in sorted(theirs - mine)]
        for name in sorted(set(self.tables) | set(other.tables)):
            a, b = self.tables.get(name), other.tables.get(name)
            if a is None:
                out.append(f"table {name}: only after ({b.rows if b else 0} rows)")
            elif b is None:
                out.append(f"table {name}: only before ({a.rows} rows)")
            elif a != b:
                detail = (
                    f"{a.rows} rows before, {b.rows} after" if a.rows != b.rows else "rows differ"
                )
                out.append(f"table {name}: {detail}")
        return out[:limit]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored with the backup record)."""
        return {
            "engine": self.engine,
            "digest": self.digest,
            "schema": list(self.schema),
            "tables": {n: {"rows": t.rows, "sha256": t.sha256} for n, t in self.tables.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogicalDump:
        """Inverse of to_dict."""
        tables = {
            str(n): TableDigest(int(t["rows"]), str(t["sha256"]))
            for n, t in dict(data.get("tables", {})).items()
        }
        return cls(str(data.get("engine", "")), [str(x) for x in data.get("schema", [])], tables)
