"""Reading the store without taking its write lock, and noticing when it changed.

A page that many people watch polls the store several times a second while a deployment
writes its journal. The store's own transactions take SQLite's write lock up front (BEGIN
IMMEDIATE); a reader that did the same would queue the deployment behind every look. The
databases here open read-only instead: SQLite through a `mode=ro` connection in a deferred
(read) transaction, PostgreSQL in a READ ONLY transaction. A `Store` built on one reads as
any store does and refuses every write (turnout.store.sql's `read_only`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from turnout.model import DeploymentStatus
from turnout.store import schema
from turnout.store.sql import CoreDatabase, Database, SqliteDatabase
from turnout.store.store import Store

_ENDED = ", ".join(f"'{status.value}'" for status in DeploymentStatus if status.finished)
RECENT = 100
"""How many of the newest deployments a change mark looks at (older ones change only by a
later rollback or a decision, which the audit table's newest row shows)."""


def open_read_only(state_dir: Path) -> Store:
    """The configuration's store for reading only. One that does not exist yet is created
    first (empty, at the head revision): a page started before the first deployment must
    see it when it comes, and a read-only connection cannot create the file."""
    if not schema.state_exists(state_dir):
        Store.open(state_dir).close()
    url = schema.state_url(state_dir)
    database: Database
    if url.startswith("sqlite:///") and "?" not in url:
        database = SqliteDatabase(url[len("sqlite:///") :], read_only=True)
    else:
        database = CoreDatabase(schema.make_engine(url), read_only=True)
    return Store(database)


def change_mark(store: Store) -> str:
    """A short digest that changes whenever something a page shows changed: a deployment's
    status, message or record, a journal entry, a lock, an approval or an audit entry."""
    digest = hashlib.blake2b(digest_size=12)
    with store.db.transaction() as tx:
        rows = tx.rows(
            "SELECT id, status, message, finished_at, rolled_back_at FROM deployments"
            " ORDER BY id DESC LIMIT :recent",
            {"recent": RECENT},
        )
        # The journal and record of what is still running move with every step; those of
        # ended deployments change only with a decision, which the audit shows.
        running = tx.rows(f"SELECT id, data FROM deployments WHERE status NOT IN ({_ENDED})")
        ids = [int(row["id"]) for row in running]
        steps = (
            tx.rows(
                "SELECT deployment_id, position, status, started_at, finished_at, error"
                f" FROM steps WHERE deployment_id IN ({', '.join(str(i) for i in ids)})"
                " ORDER BY deployment_id, position"
            )
            if ids
            else []
        )
        locks = tx.rows("SELECT environment, holder, deployment_id FROM locks ORDER BY environment")
        newest = tx.one(
            "SELECT (SELECT MAX(id) FROM audit) AS audit, (SELECT MAX(id) FROM approvals)"
            " AS approvals, (SELECT COUNT(*) FROM incidents) AS incidents"
        )
    for part in (rows, running, steps, locks, [newest]):
        digest.update(repr([tuple(sorted(row.items())) for row in part if row]).encode())
    return digest.hexdigest()
