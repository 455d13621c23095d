"""Azure SQL settings of an environment's database (`[environments.ENV.database.azure_sql]`).

The database itself is `database.url = "mssql://[user@]SERVER.database.windows.net/DB"`;
this table says how turnout reaches its management plane and how it backs it up.
Subscription, resource group and management endpoint default to the environment's
azure target, so one credential and one set of endpoints serve the app and its database.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from turnout.config.base import MAX_SECONDS, Section
from turnout.config.secrets import Secret

SQL_SCOPE = "https://database.windows.net/.default"
"""Token scope of Azure SQL Database in the public cloud (the driver's own default too)."""
_SERVER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$|^[a-z0-9]$")
_CONTAINER = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")


class AzureSqlConfig(Section):
    """How turnout manages an Azure SQL database: sign-in, backups before migrating."""

    server: str | None = None
    """The logical server's name (default: the first label of the URL's host,
    `tesoro-production-sql` of tesoro-production-sql.database.windows.net)."""
    subscription: str | None = None
    """Default: the azure target's subscription (a value or env:NAME)."""
    resource_group: str | None = None
    """Default: the azure target's resource group."""
    management_endpoint: str | None = None
    """Default: the azure target's management endpoint."""
    auth: Literal["entra", "sql"] = "entra"
    """entra: a Microsoft Entra token from the same credential as the target (no password;
    the principal needs a user in the database). sql: the URL's user and database.password."""
    token_scope: str = SQL_SCOPE
    """Scope of the database token (other clouds use their own database endpoint)."""
    backup: Literal["pitr", "copy", "bacpac"] = "pitr"
    """pitr: record the restore point and check point-in-time restore covers it. copy: also
    take a database copy before migrating. bacpac: pitr plus the runbook's .bacpac export
    to blob storage, kept as an archive."""
    storage_account_url: str | None = None
    """Blob endpoint of the storage account for bacpac exports,
    e.g. https://tesoroprodst.blob.core.windows.net."""
    container: str = "backups"
    storage_key: Secret | None = None
    """Storage account key (env:NAME) the export writes with (StorageAccessKey); unset, the
    export uses export_identity and turnout reads the blob with the credential."""
    export_login: str | None = None
    """Administrator login the export signs in with (default: the URL's user)."""
    export_password: Secret | None = None
    """Its password (default: database.password)."""
    export_identity: str | None = None
    """Resource id of a user-assigned managed identity for a passwordless export
    (ManagedIdentity for both storage and database)."""
    operation_timeout: float = Field(default=12 * 3600.0, gt=0, le=MAX_SECONDS)
    """Seconds a copy, export or restore may take (Microsoft: most restores finish within
    12 hours)."""
    poll_interval: float | None = Field(default=None, gt=0, le=60)
    """Seconds between looks at a running operation (default: the azure target's)."""

    @field_validator("server")
    @classmethod
    def _server_name(cls, value: str | None) -> str | None:
        if value is not None and not _SERVER_NAME.match(value):
            raise ValueError("a server name of lowercase letters, digits and hyphens")
        return value

    @field_validator("container")
    @classmethod
    def _container_name(cls, value: str) -> str:
        if not _CONTAINER.match(value):
            raise ValueError("a blob container name: 3-63 lowercase letters, digits and hyphens")
        return value

    @field_validator("storage_account_url", "management_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expected an http(s):// URL")
        return value.rstrip("/") if value is not None else None

    @model_validator(mode="after")
    def _bacpac_has_storage(self) -> AzureSqlConfig:
        if self.backup == "bacpac" and self.storage_account_url is None:
            raise ValueError(
                'storage_account_url: backup = "bacpac" exports to blob storage; give the'
                " account's blob endpoint, e.g. https://tesoroprodst.blob.core.windows.net"
            )
        if self.backup == "bacpac" and self.storage_key is None and self.export_identity is None:
            raise ValueError(
                'storage_key: backup = "bacpac" needs the storage key (env:NAME) or'
                " export_identity (a user-assigned managed identity) to write the export"
            )
        return self
