"""The Azure SDK clients one environment uses, built from its configuration.

The SDKs are an optional extra (`pip install 'turnout[azure]'`); importing them
happens here only, so a missing extra is one clear configuration message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from turnout.config.azure import AzureTargetConfig, resolve_value
from turnout.errors import ConfigError

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential
    from azure.mgmt.web import WebSiteManagementClient

EXTRA_HINT = "install the Azure SDKs with: pip install 'turnout[azure]'"


def require_sdk(file: str, key: str) -> None:
    """Refuse (exit 2, naming the key) when the Azure extra is not installed."""
    try:
        import azure.identity
        import azure.mgmt.web  # noqa: F401  # imported only to learn whether the extra is there
    except ImportError as exc:
        raise ConfigError(file, key, f"the azure target needs {exc.name}: {EXTRA_HINT}") from None


@dataclass
class AzureSession:
    """Credential, resolved subscription and lazily built management clients."""

    settings: AzureTargetConfig
    subscription: str
    credential: TokenCredential
    _web: WebSiteManagementClient | None = field(default=None, repr=False)
    _token: AccessToken | None = field(default=None, repr=False)

    @property
    def scope(self) -> str:
        """Token scope of the management endpoint (every cloud: '<endpoint>/.default')."""
        return f"{self.settings.management_endpoint}/.default"

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments every management client gets."""
        return {
            "base_url": self.settings.management_endpoint,
            "credential_scopes": [self.scope],
            # Long-running operations without Retry-After are polled this often, not 30 s.
            "polling_interval": self.settings.poll_interval,
            # 408/429/5xx are retried by the SDK; a handful of tries keeps failures timely.
            "retry_total": 4,
        }

    @property
    def web(self) -> WebSiteManagementClient:
        """azure-mgmt-web client."""
        if self._web is None:
            from azure.mgmt.web import WebSiteManagementClient

            self._web = WebSiteManagementClient(
                self.credential, self.subscription, **self.client_options()
            )
        return self._web

    def token(self) -> str:
        """A bearer token for the management scope (Kudu accepts it too), reused until
        five minutes before it expires (the Azure CLI credential runs `az` for each one)."""
        if self._token is None or self._token.expires_on - 300 < time.time():
            self._token = self.credential.get_token(self.scope)
        return self._token.token

    @property
    def site_id(self) -> str:
        """Resource id of the production slot (the site)."""
        s = self.settings
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{s.resource_group}"
            f"/providers/Microsoft.Web/sites/{s.app}"
        )

    def slot_id(self, slot: str) -> str:
        """Resource id of a slot (the site itself for production)."""
        return self.site_id if slot == "production" else f"{self.site_id}/slots/{slot}"

    def close(self) -> None:
        """Release connections."""
        if self._web is not None:
            self._web.close()
        close = getattr(self.credential, "close", None)
        if close is not None:
            close()


def open_session(settings: AzureTargetConfig, *, file: str, key: str) -> AzureSession:
    """A session for the target settings at `key` of `file`: DefaultAzureCredential
    (az login, a service principal in AZURE_* variables, workload or managed identity)."""
    require_sdk(file, key)
    from azure.identity import DefaultAzureCredential

    subscription = resolve_value(settings.subscription, file=file, key=f"{key}.subscription")
    try:
        credential = DefaultAzureCredential()
    except ValueError as exc:  # e.g. an invalid AZURE_TOKEN_CREDENTIALS value
        raise ConfigError(file, key, f"Azure credential: {exc}") from None
    return AzureSession(settings, subscription, credential)
