"""Key Vault secrets behind `keyvault://VAULT/NAME[/VERSION]` references.

A secret is read when it is used, through azure-keyvault-secrets with the same
DefaultAzureCredential as the Azure target, from `https://VAULT.vault.azure.net` (a
reference may give a vault's full DNS name instead, for another cloud). The value goes
to the caller only: it is never cached on disk, logged, or put into an error message.

Key Vault tells an unreadable secret apart by status and code, and so does turnout:
403 `Forbidden` (the caller lacks `secrets/getSecret`, inner code ForbiddenByRbac or
AccessDenied), 403 with inner code `SecretDisabled` (the secret or version is disabled),
and 404 `SecretNotFound`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from turnout.errors import ConfigError, IntegrationError

if TYPE_CHECKING:
    from azure.keyvault.secrets import SecretClient

    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.config.secrets import SecretRef

DNS_SUFFIX = "vault.azure.net"
"""Key Vault's domain in Azure's public cloud."""
EXTRA_HINT = "install the Azure SDKs with: pip install 'turnout[azure]'"


class Unreadable(StrEnum):
    """Why Key Vault would not hand out a secret."""

    FORBIDDEN = "forbidden"
    DISABLED = "disabled"
    NOT_FOUND = "not-found"
    UNAUTHENTICATED = "unauthenticated"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class SecretVersion:
    """What may be shown about a readable secret (never its value)."""

    version: str
    enabled: bool
    updated: str | None

    def describe(self) -> str:
        """One line for people."""
        when = f", updated {self.updated}" if self.updated else ""
        return f"readable (version {self.version[:8]}{when})"


class SecretUnreadable(IntegrationError):
    """Key Vault did not hand out the secret; `reason` says which way."""

    def __init__(self, message: str, reason: Unreadable) -> None:
        super().__init__(message, details={"reason": reason.value})
        self.reason = reason


def vault_url(vault: str) -> str:
    """The vault's URL: a bare name is in the public cloud, a DNS name is used as it is."""
    host = vault if "." in vault else f"{vault}.{DNS_SUFFIX}"
    return f"https://{host.lower()}"


@contextmanager
def _client(vault: str) -> Iterator[SecretClient]:
    """A SecretClient for the vault with DefaultAzureCredential, closed afterwards. Built
    for each read: the credential reads the process environment when it is made, and a
    token cached across reads would outlive a change of identity."""
    try:
        from azure.identity import DefaultAzureCredential
        from azure.keyvault.secrets import SecretClient
    except ImportError as exc:
        raise IntegrationError(f"Key Vault references need {exc.name}: {EXTRA_HINT}") from None
    try:
        credential = DefaultAzureCredential()
    except ValueError as exc:  # e.g. an invalid AZURE_TOKEN_CREDENTIALS value
        raise IntegrationError(f"Azure credential: {exc}") from None
    # 408/429/5xx are retried by the SDK; a handful of tries keeps failures timely.
    client = SecretClient(vault_url(vault), credential, retry_total=3)
    try:
        yield client
    finally:
        client.close()
        credential.close()


def _fetch(ref: SecretRef) -> Any:
    """The KeyVaultSecret the reference names, or SecretUnreadable saying why not."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
    )

    vault, name, version = ref.keyvault_parts
    where = f"{ref.ref}"
    try:
        with _client(vault) as client:
            return client.get_secret(name, version)
    except ResourceNotFoundError as exc:
        raise SecretUnreadable(
            f"{where}: not found in vault {vault} (404 {_code(exc) or 'SecretNotFound'})",
            Unreadable.NOT_FOUND,
        ) from None
    except ClientAuthenticationError as exc:
        raise SecretUnreadable(
            f"{where}: the Azure credential got no token for Key Vault ({_short(exc)})",
            Unreadable.UNAUTHENTICATED,
        ) from None
    except HttpResponseError as exc:
        inner = _inner_code(exc)
        if exc.status_code == 403 and inner == "SecretDisabled":
            raise SecretUnreadable(
                f"{where}: the secret is disabled in vault {vault} (403 SecretDisabled)",
                Unreadable.DISABLED,
            ) from None
        if exc.status_code == 403:
            raise SecretUnreadable(
                f"{where}: the caller may not read secrets of vault {vault}"
                f" (403 {_code(exc) or 'Forbidden'}{f'/{inner}' if inner else ''}; it needs"
                " Microsoft.KeyVault/vaults/secrets/getSecret/action, e.g. the Key Vault"
                " Secrets User role, or a get-secret access policy)",
                Unreadable.FORBIDDEN,
            ) from None
        raise SecretUnreadable(
            f"{where}: Key Vault answered HTTP {exc.status_code} {_code(exc) or ''}".rstrip(),
            Unreadable.UNREACHABLE,
        ) from None
    except ServiceRequestError as exc:
        raise SecretUnreadable(
            f"{where}: vault {vault_url(vault)} cannot be reached ({_short(exc)})",
            Unreadable.UNREACHABLE,
        ) from None


def read_secret(ref: SecretRef, *, file: str = "turnout.toml", key: str = "") -> str:
    """The secret's value, read now. A secret that does not exist is a configuration error
    naming the key (exit 2); one that cannot be read is SecretUnreadable."""
    try:
        secret = _fetch(ref)
    except SecretUnreadable as exc:
        if exc.reason is Unreadable.NOT_FOUND:
            raise ConfigError(file, key or None, exc.message) from None
        where = f"{file}: {key}: " if key else ""
        raise SecretUnreadable(where + exc.message, exc.reason) from None
    value = secret.value
    if not value:
        raise ConfigError(file, key or None, f"{ref.ref} is empty in its vault")
    return str(value)


def check_secret(ref: SecretRef) -> SecretVersion:
    """Whether the secret is readable now (doctor); raises SecretUnreadable saying why not.
    The value is read (Key Vault has no permission check without it) and dropped."""
    secret = _fetch(ref)
    properties = secret.properties
    updated = properties.updated_on
    return SecretVersion(
        version=str(properties.version or ""),
        enabled=bool(properties.enabled),
        updated=updated.strftime("%Y-%m-%d %H:%M UTC") if updated is not None else None,
    )


def doctor_checks(
    config: LoadedConfig, env: EnvironmentConfig
) -> list[tuple[str, Callable[[], str]]]:
    """One `turnout doctor` check per Key Vault secret the environment's configuration
    references (the runbook's "Access to production Key Vault secrets")."""
    prefix = f"environments.{env.name}."
    checks: list[tuple[str, Callable[[], str]]] = []
    seen: set[str] = set()
    for key, ref in config.secret_refs():
        if not ref.in_keyvault or ref.ref in seen:
            continue
        if key.startswith("environments.") and not key.startswith(prefix):
            continue
        seen.add(ref.ref)

        def check(ref: SecretRef = ref) -> str:
            return f"{ref.ref}: {check_secret(ref).describe()}"

        checks.append((f"key vault {key}", check))
    return checks


def _code(exc: Any) -> str | None:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    return str(code) if code else None


def _inner_code(exc: Any) -> str | None:
    error = getattr(exc, "error", None)
    inner = getattr(error, "innererror", None)
    if isinstance(inner, dict) and inner.get("code"):
        return str(inner["code"])
    return None


def _short(exc: BaseException) -> str:
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")


__all__ = [
    "SecretUnreadable",
    "SecretVersion",
    "Unreadable",
    "check_secret",
    "doctor_checks",
    "read_secret",
    "vault_url",
]
