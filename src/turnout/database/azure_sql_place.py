"""Where an Azure SQL database lives on the management plane, and the credential for it.

Subscription, resource group, management endpoint and poll interval come from the
database's `azure_sql` table, else from the environment's azure target: the app and its
database are reached with one DefaultAzureCredential and one set of endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from turnout.config.azure import PUBLIC_CLOUD, AzureTargetConfig, resolve_value
from turnout.database.driver import DatabaseError
from turnout.database.location import DatabaseLocation
from turnout.errors import ConfigError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

SQL_EXTRA_HINT = "install the Azure SDKs with: pip install 'turnout[azure]'"


@dataclass(frozen=True)
class AzureSqlPlace:
    """The resolved management-plane coordinates of one Azure SQL database."""

    subscription: str
    resource_group: str
    server: str
    database: str
    management_endpoint: str
    poll_interval: float

    @property
    def server_id(self) -> str:
        """Resource id of the logical server."""
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Sql/servers/{self.server}"
        )

    def database_id(self, name: str | None = None) -> str:
        """Resource id of a database on the server (this one by default)."""
        return f"{self.server_id}/databases/{name or self.database}"

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of the management client (the azure target's choices)."""
        return {
            "base_url": self.management_endpoint,
            "credential_scopes": [f"{self.management_endpoint}/.default"],
            "polling_interval": self.poll_interval,
            "retry_total": 4,
        }


def _target(location: DatabaseLocation) -> AzureTargetConfig | None:
    return location.target if isinstance(location.target, AzureTargetConfig) else None


def place_of(location: DatabaseLocation) -> AzureSqlPlace:
    """The database's coordinates; ConfigError naming the key when one cannot be known."""
    settings = location.azure_sql
    assert settings is not None  # locate() sets it for every mssql location
    target = _target(location)
    file = location.config_file
    key = f"{location.config_section}.azure_sql"

    def pick(name: str, own: str | None, inherited: str | None) -> str:
        value = own if own is not None else inherited
        if value is None:
            raise ConfigError(
                file,
                f"{key}.{name}",
                f"not set, and the environment's target is not azure (whose {name} it would use)",
            )
        return resolve_value(value, file=file, key=f"{key}.{name}")

    server = settings.server or location.host.split(".", 1)[0]
    if not server:
        raise ConfigError(file, f"{key}.server", "the URL names no server")
    return AzureSqlPlace(
        subscription=pick(
            "subscription", settings.subscription, target.subscription if target else None
        ),
        resource_group=pick(
            "resource_group", settings.resource_group, target.resource_group if target else None
        ),
        server=server,
        database=location.dbname,
        management_endpoint=(
            settings.management_endpoint
            or (target.management_endpoint if target else None)
            or PUBLIC_CLOUD
        ),
        poll_interval=settings.poll_interval or (target.poll_interval if target else 5.0),
    )


def open_credential(location: DatabaseLocation) -> TokenCredential:
    """The environment's DefaultAzureCredential (az login, a service principal, workload or
    managed identity), the same chain the azure target signs in with."""
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise ConfigError(
            location.config_file,
            f"{location.config_section}.url",
            f"an Azure SQL database needs {exc.name}: {SQL_EXTRA_HINT}",
        ) from None
    try:
        return DefaultAzureCredential()
    except ValueError as exc:  # e.g. an invalid AZURE_TOKEN_CREDENTIALS value
        raise ConfigError(
            location.config_file, f"{location.config_section}.azure_sql", f"Azure credential: {exc}"
        ) from None


def token_source(location: DatabaseLocation) -> Callable[[str], str]:
    """scope -> token from the environment's credential, opened at the first call (SQL
    sign-in never needs one) and kept for the session's life."""
    opened: list[TokenCredential] = []

    def token(scope: str) -> str:
        if not opened:
            opened.append(open_credential(location))
        try:
            return opened[0].get_token(scope).token
        except Exception as exc:  # azure-identity raises ClientAuthenticationError and kin
            raise DatabaseError(
                f"cannot get a Microsoft Entra token for {location.describe()} (scope {scope}):"
                f" {' '.join(str(exc).split())[:300]}"
            ) from exc

    return token
