"""Set-up shared by the azure tests: the fake Azure, a credential, a turnout.toml.

The credential is azure-identity's own DefaultAzureCredential, narrowed with the
documented AZURE_TOKEN_CREDENTIALS=AzureCliCredential to the Azure CLI, whose `az`
here is a script answering `az account get-access-token` with the token of a
principal the fake knows. Host names reach the fake through HTTPS_PROXY; the test CA
is trusted through REQUESTS_CA_BUNDLE (requests, the SDKs) and SSL_CERT_FILE (httpx).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme

from tests.fakes.azure_server import AzureServer
from tests.fakes.webhook_server import write_ca_bundle
from turnout.config import LoadedConfig, load_config

DEPLOYER_TOKEN = "token-deployer"


@dataclass
class AzureWorld:
    """A running fake Azure and the environment variables that point turnout at it."""

    server: AzureServer
    env: dict[str, str]
    folder: Path

    def use_token(self, token: str) -> None:
        """Make `az` (hence DefaultAzureCredential) hand out this principal's token."""
        write_fake_az(self.folder / "bin", token, self.server.subscription)

    def apply(self, environ: dict[str, str] | None = None) -> dict[str, str]:
        """The environment for a turnout process (a copy of `environ` or os.environ)."""
        merged = dict(os.environ if environ is None else environ)
        merged.update(self.env)
        merged["PATH"] = f"{self.folder / 'bin'}{os.pathsep}{merged.get('PATH', '')}"
        return merged


def write_fake_az(folder: Path, token: str, subscription: str) -> Path:
    """An `az` that answers `az account get-access-token` (what AzureCliCredential runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    answer = json.dumps(
        {
            "accessToken": token,
            "expiresOn": "2099-01-01 00:00:00.000000",
            "expires_on": 4070908800,
            "subscription": subscription,
            "tenant": "00000000-0000-0000-0000-0000000000aa",
            "tokenType": "Bearer",
        }
    )
    script = folder / "az"
    script.write_text(f"#!/bin/sh\ncat <<'JSON'\n{answer}\nJSON\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


@contextmanager
def running_azure(folder: Path) -> Iterator[AzureWorld]:
    """A fake Azure with a deployer principal (all actions) for the seed's production app."""
    ca = trustme.CA()
    folder.mkdir(parents=True, exist_ok=True)
    bundle = write_ca_bundle(ca, folder)
    server = AzureServer(ca, folder / "azure")
    server.add_principal(DEPLOYER_TOKEN)
    with server:
        world = AzureWorld(
            server,
            {
                "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential",
                "AZURE_SUBSCRIPTION_ID": server.subscription,
                "HTTPS_PROXY": server.proxy_url,
                "NO_PROXY": "127.0.0.1,localhost",
                "REQUESTS_CA_BUNDLE": str(bundle),
                "SSL_CERT_FILE": str(bundle),
            },
            folder,
        )
        world.use_token(DEPLOYER_TOKEN)
        yield world


def azure_target_toml(
    world: AzureWorld, *, environment: object = "production", **extra: object
) -> str:
    """The [environments.ENV.target] table of an azure target on the fake."""
    server = world.server
    values: dict[str, object] = {
        "kind": "azure",
        "subscription": "env:AZURE_SUBSCRIPTION_ID",
        "resource_group": server.resource_group,
        "app": server.app,
        "management_endpoint": server.url,
        "poll_interval": 0.2,
    }
    values.update(extra)
    lines = [f"[environments.{environment}.target]"]
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def write_azure_config(
    world: AzureWorld, folder: Path, extra: str = "", **target: object
) -> LoadedConfig:
    """A turnout.toml with one `production` environment on the fake's app."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "turnout.toml"
    path.write_text('[app]\nname = "tinyapp"\n\n' + azure_target_toml(world, **target) + extra)
    return load_config(path)
