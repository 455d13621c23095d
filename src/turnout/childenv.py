"""The environment of every process turnout starts for someone else's code.

Slot processes, the E2E command, checklist commands and the database tools get
an allow-list of the deployer's variables (locale, paths, home), what the
configuration passes by name, and their own values — never the deployer's
integration tokens, `TURNOUT_STATE_URL` or anything else turnout reads for
itself. Settings may name a secret (`env:NAME`, `keyvault://VAULT/NAME`): the process
receives the value under the setting's own name, so an app gets exactly its own secrets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from turnout.config.secrets import SecretRef, is_reference
from turnout.errors import BadInput

Setting = SecretRef | str
"""A setting's value as configured: text, or a reference to a secret."""

ALLOWED = frozenset(
    {
        "HOME",
        "LANG",
        "LANGUAGE",
        "LOGNAME",
        "PATH",
        "SHELL",
        "SSL_CERT_DIR",
        "SSL_CERT_FILE",
        "TERM",
        "TMPDIR",
        "TZ",
        "USER",
    }
)
"""Variables every child gets when the deployer has them: nothing in them is a secret."""
ALLOWED_PREFIXES = ("LC_",)

SECRET_REFERENCE = re.compile(r"^env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")


def child_environment(
    own: Mapping[str, str] | None = None,
    *,
    passed: Iterable[str] = (),
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The allow-listed part of `base` (default: this process's), `passed` names, then `own`."""
    source = os.environ if base is None else base
    wanted = set(passed)
    env = {
        name: value
        for name, value in source.items()
        if name in ALLOWED or name.startswith(ALLOWED_PREFIXES) or name in wanted
    }
    env.update(own or {})
    return env


def secret_name(value: Setting) -> str | None:
    """The name a setting's secret is passed under: the variable of `env:NAME` (NAME), the
    reference itself for a Key Vault secret, or None for a plain value."""
    if isinstance(value, SecretRef):
        return value.ref if value.in_keyvault else value.env_name
    match = SECRET_REFERENCE.match(value)
    if match:
        return match.group("name")
    return value if is_reference(value) else None


def setting_text(value: Setting) -> str:
    """How a setting is written in the configuration (a reference stays a reference)."""
    return value.ref if isinstance(value, SecretRef) else value


def referenced_secrets(*settings: Mapping[str, Setting]) -> set[str]:
    """Every variable named by a secret reference in these settings."""
    return {name for values in settings for v in values.values() if (name := secret_name(v))}


def resolve_settings(
    settings: Mapping[str, Setting], secrets: Mapping[str, str], key: str
) -> dict[str, str]:
    """Settings with each `env:NAME` replaced by the secret's value; a missing one is bad input."""
    resolved: dict[str, str] = {}
    for setting, value in settings.items():
        name = secret_name(value)
        if name is None:
            resolved[setting] = setting_text(value)
            continue
        secret = secrets.get(name)
        if not secret:
            shown = name if is_reference(name) else f"env:{name}"
            raise BadInput(f"{key}.{setting}: secret reference {shown} is not set")
        resolved[setting] = secret
    return resolved
