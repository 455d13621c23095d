"""Which driver serves a database location: the one place that knows every engine's module.

Kept apart from driver.py, which the engine modules import, so that choosing an engine
does not make driver.py and the engines import each other.
"""

from __future__ import annotations

from turnout.database.driver import Driver
from turnout.database.location import DatabaseLocation


def open_driver(location: DatabaseLocation) -> Driver:
    """The driver for a location's engine (each engine's module is imported only when used)."""
    if location.engine == "sqlite":
        from turnout.database.sqlite import SqliteDriver

        return SqliteDriver(location)
    if location.engine == "mssql":
        from turnout.database.azure_sql_place import token_source
        from turnout.database.mssql import MssqlDriver

        return MssqlDriver(location, token_source(location))
    from turnout.database.postgresql import PostgresDriver

    return PostgresDriver(location)
