"""The Azure SQL management plane as turnout uses it, through azure-mgmt-sql.

Reading a database and its short-term retention policy, creating a database (a copy, a
point-in-time restore) and following it until it is Online, exporting and importing a
bacpac, renaming. SDK errors become DatabaseError here, with Azure's code and message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from turnout.azure_sql_record import DatabaseFacts
from turnout.clock import Clock
from turnout.database.azure_sql_place import AzureSqlPlace
from turnout.database.driver import DatabaseError
from turnout.targets.azure.failures import azure_reason

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.polling import LROPoller
    from azure.mgmt.sql import SqlManagementClient

ONLINE = "Online"
_STILL_COMING = frozenset({"creating", "copying", "restoring", "importing", "scaling"})


def facts_of(database: Any) -> DatabaseFacts:
    """The management plane's description of a database (an SDK `Database`)."""
    sku = getattr(database, "current_sku", None) or getattr(database, "sku", None)
    return DatabaseFacts(
        name=str(database.name).rsplit("/", 1)[-1],
        id=str(database.id),
        database_id=_text(getattr(database, "database_id", None)),
        status=_text(getattr(database, "status", None)),
        location=_text(getattr(database, "location", None)),
        sku=_text(getattr(sku, "name", None)),
        max_size_bytes=getattr(database, "max_size_bytes", None),
        collation=_text(getattr(database, "collation", None)),
        source_database_id=_text(getattr(database, "source_database_id", None)),
        creation_date=getattr(database, "creation_date", None),
        earliest_restore_date=getattr(database, "earliest_restore_date", None),
    )


def _text(value: Any) -> str | None:
    # The SDK's enums (DatabaseStatus.ONLINE) are str subclasses: keep their wire value.
    return None if value is None else str(getattr(value, "value", value))


class SqlManagement:
    """One logical server's databases, reached with the environment's credential."""

    def __init__(
        self,
        place: AzureSqlPlace,
        credential: TokenCredential,
        *,
        clock: Clock,
        timeout: float,
        progress: Callable[[str], None] = lambda _m: None,
    ) -> None:
        from azure.mgmt.sql import SqlManagementClient

        self.place = place
        self.clock = clock
        self.timeout = timeout
        self.progress = progress
        self.client: SqlManagementClient = SqlManagementClient(
            credential, place.subscription, **place.client_options()
        )

    def _failed(self, what: str, exc: BaseException) -> DatabaseError:
        return DatabaseError(
            f"Azure SQL {what} on server {self.place.server}: {azure_reason(exc)}",
            details={"server": self.place.server, "operation": what},
        )

    def database(self, name: str) -> DatabaseFacts | None:
        """A database of the server, or None when no database has that name."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        p = self.place
        try:
            return facts_of(self.client.databases.get(p.resource_group, p.server, name))
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise self._failed(f"reading database {name}", exc) from exc

    def retention_days(self, name: str) -> int:
        """Days of point-in-time restore the short-term retention policy keeps."""
        from azure.core.exceptions import AzureError

        p = self.place
        try:
            policy = self.client.backup_short_term_retention_policies.get(
                p.resource_group, p.server, name, "default"
            )
        except AzureError as exc:
            raise self._failed(f"reading the retention policy of {name}", exc) from exc
        days = getattr(policy, "retention_days", None)
        if not isinstance(days, int):
            raise DatabaseError(
                f"Azure SQL database {name}: the short-term retention policy names no"
                " retention days; point-in-time restore cannot be relied on"
            )
        return days

    def begin_create(self, name: str, body: dict[str, Any]) -> LROPoller[Any]:
        """Ask for a new database (`createMode` in the body says how it is made)."""
        from azure.core.exceptions import AzureError

        p = self.place
        try:
            return self.client.databases.begin_create_or_update(
                p.resource_group, p.server, name, body
            )
        except AzureError as exc:
            raise self._failed(f"creating database {name}", exc) from exc

    def follow(self, what: str, poller: LROPoller[Any]) -> Any:
        """The long-running operation's result, waiting at most the operation timeout."""
        from azure.core.exceptions import AzureError

        try:
            result = poller.result(timeout=self.timeout)
        except AzureError as exc:
            raise self._failed(what, exc) from exc
        if not poller.done():
            raise DatabaseError(
                f"Azure SQL {what} on server {self.place.server} did not finish within"
                f" {self.timeout:.0f} s (azure_sql.operation_timeout)"
            )
        return result

    def wait_online(self, name: str) -> DatabaseFacts:
        """Look at a database until it is Online; DatabaseError when it is gone or stuck."""
        started = self.clock.monotonic()
        while True:
            facts = self.database(name)
            if facts is None:
                raise DatabaseError(
                    f"Azure SQL database {name} does not exist on server {self.place.server}:"
                    " its creation failed or was cancelled"
                )
            if (facts.status or "").lower() == ONLINE.lower():
                return facts
            if (facts.status or "").lower() not in _STILL_COMING:
                raise DatabaseError(
                    f"Azure SQL database {name} is {facts.status}, not Online",
                    details={"database": facts.model_dump(mode="json")},
                )
            if self.clock.monotonic() - started > self.timeout:
                raise DatabaseError(
                    f"Azure SQL database {name} is still {facts.status} after"
                    f" {timedelta(seconds=int(self.timeout))} (azure_sql.operation_timeout)"
                )
            self.progress(f"{name} is {facts.status}; waiting until it is Online")
            self.clock.sleep(self.place.poll_interval)

    def export(self, name: str, definition: dict[str, Any]) -> Any:
        """Export a database to a bacpac blob and follow the export to its end."""
        from azure.core.exceptions import AzureError

        p = self.place
        try:
            poller = self.client.databases.begin_export(
                p.resource_group, p.server, name, definition
            )
        except AzureError as exc:
            raise self._failed(f"exporting {name}", exc) from exc
        return self.follow(f"export of {name}", poller)

    def begin_import(self, definition: dict[str, Any]) -> LROPoller[Any]:
        """Import a bacpac into a new database of the server."""
        from azure.core.exceptions import AzureError

        p = self.place
        try:
            return self.client.servers.begin_import_database(p.resource_group, p.server, definition)
        except AzureError as exc:
            raise self._failed(f"importing into {definition.get('databaseName')}", exc) from exc

    def rename(self, name: str, new_name: str) -> None:
        """Rename a database (`POST .../databases/{name}/move` with the new resource id)."""
        from azure.core.exceptions import AzureError

        p = self.place
        try:
            self.client.databases.rename(
                p.resource_group, p.server, name, {"id": p.database_id(new_name)}
            )
        except AzureError as exc:
            raise self._failed(f"renaming {name} to {new_name}", exc) from exc
