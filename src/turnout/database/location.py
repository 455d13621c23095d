"""Where the application database is: parsed from `database.url`, password kept as a reference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from turnout.config.azure_sql import AzureSqlConfig
from turnout.config.secrets import SecretRef
from turnout.errors import ConfigError

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig


@dataclass(frozen=True)
class DatabaseLocation:
    """An application database. `describe()` is safe to print: it never holds the password."""

    engine: Literal["sqlite", "postgresql", "mssql"]
    path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = ""
    dbname: str = ""
    password_ref: SecretRef | None = None
    config_file: str = "turnout.toml"
    config_key: str = "database.password"
    timeout: float = 10.0
    azure_sql: AzureSqlConfig | None = None
    """Azure SQL settings (engine mssql)."""
    trust_server_certificate: bool = False
    """mssql: accept the server's certificate without checking it (a local SQL Server only;
    `?trust_server_certificate=yes` in the URL)."""
    target: object = None
    """The environment's target settings (the azure target supplies the Azure SQL
    management plane's subscription, resource group, endpoint and credential)."""
    config_section: str = "database"
    """Key of this database's settings in config_file, for messages."""

    def describe(self) -> str:
        """Human form without secrets."""
        if self.engine == "sqlite":
            return f"sqlite:{self.path}"
        user = f"{self.user}@" if self.user else ""
        if self.engine == "mssql":
            return f"mssql://{user}{self.host}:{self.port}/{self.dbname}"
        return f"postgresql://{user}{self.host}:{self.port}/{self.dbname}"

    def password(self) -> str | None:
        """The password, resolved now (a missing secret is a configuration error)."""
        if self.password_ref is None:
            return None
        return self.password_ref.resolve(file=self.config_file, key=self.config_key)


def locate(config: LoadedConfig, env: EnvironmentConfig) -> DatabaseLocation:
    """The environment's database, or a configuration error when none is configured."""
    db = env.database
    file = str(config.path)
    key = f"environments.{env.name}.database"
    if db.url is None:
        raise ConfigError(file, f"{key}.url", "no database configured for this environment")
    parts = urlsplit(db.url)
    if parts.scheme == "sqlite":
        # sqlite:///rel/path.db is relative to turnout.toml; sqlite:////abs/path.db is absolute.
        raw = unquote(db.url[len("sqlite://") :])
        raw = raw[1:] if raw.startswith("/") else raw
        return DatabaseLocation(
            engine="sqlite",
            path=config.resolve_path(raw),
            config_file=file,
            timeout=db.timeout_seconds,
        )
    if parts.scheme == "mssql":
        query = parse_qs(parts.query)
        trust = query.pop("trust_server_certificate", ["no"])[-1].lower()
        if query or trust not in ("yes", "no"):
            raise ConfigError(
                file,
                f"{key}.url",
                "an mssql URL takes one option, ?trust_server_certificate=yes (a local SQL"
                " Server with its own certificate)",
            )
        return DatabaseLocation(
            engine="mssql",
            host=parts.hostname or "",
            port=parts.port or 1433,
            user=unquote(parts.username or ""),
            dbname=unquote(parts.path.strip("/")),
            password_ref=db.password,
            config_file=file,
            config_key=f"{key}.password",
            timeout=db.timeout_seconds,
            azure_sql=db.azure_sql or AzureSqlConfig(),
            trust_server_certificate=trust == "yes",
            target=env.target,
            config_section=key,
        )
    return DatabaseLocation(
        engine="postgresql",
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or ""),
        dbname=unquote(parts.path.lstrip("/")),
        password_ref=db.password,
        config_file=file,
        config_key=f"{key}.password",
        timeout=db.timeout_seconds,
    )
