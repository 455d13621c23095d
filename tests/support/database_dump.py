"""An independent full dump of an application database, to prove it unchanged.

Made with the engines' own tools (sqlite3's iterdump, pg_dump's plain SQL), not with
turnout's code, so a test comparing two dumps does not trust what it tests.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from tests.support.postgres_server import PostgresServer


def sqlite_dump(path: Path) -> list[str]:
    """sqlite3's iterdump of a database file, line by line."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def postgres_dump(server: PostgresServer, dbname: str) -> list[str]:
    """pg_dump's plain SQL of one database of the test server, line by line."""
    where = ["-h", server.host, "-p", str(server.port), "-U", server.user]
    out = subprocess.run(
        ["pg_dump", "--no-password", *where, dbname],
        env={**os.environ, "PGPASSWORD": server.password},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # \restrict lines carry a random key per run; everything else must be identical.
    return [
        line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    ]


def full_dump(sqlite_file: Path, postgres: PostgresServer | None, dbname: str) -> list[str]:
    """The dump of the PostgreSQL database `dbname` when a server is given, else of the
    SQLite file."""
    if postgres is None:
        return sqlite_dump(sqlite_file)
    return postgres_dump(postgres, dbname)
