"""Key Vault secrets for the fake Azure: `https://VAULT.vault.azure.net/secrets/NAME[/VERSION]`.

Mounted into `AzureServer` (the proxy intercepts `*.vault.azure.net`), following the
documented contract the official SecretClient expects:

- Challenge authentication: a request without a bearer token gets 401 with
  `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/TENANT",
  resource="https://vault.azure.net"`; the client then asks its credential for a token of
  that resource and sends the request again. A token the fake does not know is 401 too.
- GET a secret (latest, or a version): 200 `{"value", "id", "attributes"}`; 404
  `SecretNotFound`; 403 `Forbidden` with inner code `ForbiddenByRbac` when the caller's
  principal may not perform `Microsoft.KeyVault/vaults/secrets/getSecret/action` (or the
  secret is listed in `forbidden`); 403 `Forbidden` / `SecretDisabled` for a disabled
  secret.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.fakes.webhook_server import RecordedRequest, Response, json_response

if TYPE_CHECKING:
    from tests.fakes.azure_server import AzureServer

SUFFIX = "vault.azure.net"
TENANT = "00000000-0000-0000-0000-0000000000aa"
GET_SECRET = "Microsoft.KeyVault/vaults/secrets/getSecret/action"


@dataclass
class SecretVersion:
    """One version of a secret."""

    version: str
    value: str
    enabled: bool = True
    updated: int = field(default_factory=lambda: int(time.time()))


@dataclass
class VaultSecret:
    """A secret and its versions, newest last."""

    name: str
    versions: list[SecretVersion] = field(default_factory=list)


class FakeKeyVault:
    """The vaults of the subscription, served by the fake Azure's HTTPS server."""

    def __init__(self, server: AzureServer) -> None:
        self.server = server
        self.vaults: dict[str, dict[str, VaultSecret]] = {}
        self.forbidden: set[tuple[str, str]] = set()
        """(vault, secret) pairs the caller has no role assignment for (403)."""
        self.reads: list[tuple[str, str]] = []
        """(vault, secret) of every value handed out."""
        server.mount(self.handle, host_suffix=SUFFIX)

    def add_secret(self, vault: str, name: str, value: str, *, enabled: bool = True) -> str:
        """Set a secret (a new version, which becomes the latest); returns the version."""
        version = secrets.token_hex(16)
        with self.server.lock:
            secret = self.vaults.setdefault(vault, {}).setdefault(name, VaultSecret(name))
            secret.versions.append(SecretVersion(version, value, enabled))
        return version

    def handle(self, request: RecordedRequest) -> Response | None:
        """Answer requests to *.vault.azure.net; None for every other host."""
        host = request.host.lower()
        if not host.endswith("." + SUFFIX):
            return None
        vault = host[: -len(SUFFIX) - 1]
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return self._challenge("")
        principal = self.server.principal_of(request)
        if principal is None:
            return self._challenge(', error="invalid_token"')
        match = re.fullmatch(r"/secrets/([A-Za-z0-9-]+)(?:/([0-9a-fA-F]*))?/?", request.path)
        if match is None or request.method != "GET":
            return _error(400, "BadParameter", f"The fake serves GET /secrets only: {request.path}")
        name, version = match.group(1), match.group(2) or ""
        if not principal.may(GET_SECRET) or (vault, name) in self.forbidden:
            return _forbidden(principal.object_id, vault, name)
        with self.server.lock:
            secret = self.vaults.get(vault, {}).get(name)
            found = None
            if secret is not None and secret.versions:
                found = (
                    secret.versions[-1]
                    if not version
                    else next((v for v in secret.versions if v.version == version), None)
                )
            if found is None:
                return _error(
                    404,
                    "SecretNotFound",
                    f"A secret with (name/id) {name}{'/' + version if version else ''} was not"
                    " found in this key vault. If you recently deleted this secret you may be"
                    " able to recover it using the correct recovery command.",
                )
            if not found.enabled:
                return _error(
                    403,
                    "Forbidden",
                    "Operation get is not allowed on a disabled secret.",
                    inner="SecretDisabled",
                )
            self.reads.append((vault, name))
            return json_response(
                200,
                {
                    "value": found.value,
                    "id": f"https://{host}/secrets/{name}/{found.version}",
                    "attributes": {
                        "enabled": True,
                        "created": found.updated,
                        "updated": found.updated,
                        "recoveryLevel": "Recoverable+Purgeable",
                        "recoverableDays": 90,
                    },
                    "tags": {},
                },
            )

    def _challenge(self, error: str) -> Response:
        challenge = (
            f'Bearer authorization="https://login.microsoftonline.com/{TENANT}",'
            f' resource="https://{SUFFIX}"{error}'
        )
        status, headers, body = _error(401, "Unauthorized", "AKV10000: Request is missing a Bearer")
        return status, {**headers, "WWW-Authenticate": challenge}, body


def _forbidden(object_id: str, vault: str, name: str) -> Response:
    return _error(
        403,
        "Forbidden",
        "Caller is not authorized to perform action on resource. If role assignments, deny"
        f" assignments or role definitions were changed recently, please observe propagation"
        f" time. Caller: oid={object_id} Action: '{GET_SECRET}' Resource:"
        f" '/providers/microsoft.keyvault/vaults/{vault}/secrets/{name}'"
        " Assignment: (not found) DecisionReason: 'DeniedWithNoValidRBAC'",
        inner="ForbiddenByRbac",
    )


def _error(status: int, code: str, message: str, *, inner: str | None = None) -> Response:
    error: dict[str, object] = {"code": code, "message": message}
    if inner is not None:
        error["innererror"] = {"code": inner}
    return json_response(status, {"error": error})
