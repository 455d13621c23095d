"""The database phase: versioned migrations behind a verified backup, restore on failure.

Public API (used by the runbook steps, the `turnout db` commands and the demo):
`DatabaseService` (service.py), `load_from_package` / `MigrationSet` (migrations.py),
`LogicalDump` (dump.py), `locate` (location.py), `DatabaseError` / `MigrationFailed`.
"""

from turnout.database.driver import DatabaseError
from turnout.database.dump import LogicalDump
from turnout.database.location import DatabaseLocation, locate
from turnout.database.migrations import Migration, MigrationSet, load_from_package
from turnout.database.runner import MigrationFailed
from turnout.database.service import DatabaseService, RestoreResult, verified_key

__all__ = [
    "DatabaseError",
    "DatabaseLocation",
    "DatabaseService",
    "LogicalDump",
    "Migration",
    "MigrationFailed",
    "MigrationSet",
    "RestoreResult",
    "load_from_package",
    "locate",
    "verified_key",
]
