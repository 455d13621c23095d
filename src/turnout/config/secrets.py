"""Secret references, resolved only at the moment of use and never printed.

`env:NAME` names an environment variable; `keyvault://VAULT/NAME[/VERSION]` a Key Vault
secret, read with the Azure credential (turnout.integrations.keyvault) when it is used.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from turnout.errors import ConfigError

_REF = re.compile(r"^env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")
_KEYVAULT = re.compile(
    # A vault name (3-24 letters, digits, -) or a vault's full DNS name (another cloud);
    # secret names are 1-127 letters, digits and -; a version is 32 hex digits.
    r"^keyvault://(?P<vault>[A-Za-z0-9-]{3,24}|[A-Za-z0-9-]{3,24}(?:\.[A-Za-z0-9-]+)+)"
    r"/(?P<name>[A-Za-z0-9-]{1,127})(?:/(?P<version>[0-9a-fA-F]{32}))?$"
)
MASK = "***"


def is_reference(text: str) -> bool:
    """Whether `text` is written as a secret reference (env:NAME or keyvault://...)."""
    return bool(_REF.match(text) or _KEYVAULT.match(text))


class SecretRef:
    """A reference to a secret; `str()` and `repr()` never show its value."""

    __slots__ = ("ref",)

    def __init__(self, ref: str) -> None:
        if not is_reference(ref):
            raise ValueError(
                "expected a secret reference like 'env:NAME' or 'keyvault://VAULT/NAME'"
                " (the value is not shown); secrets are never written into the configuration"
                " file"
            )
        self.ref = ref

    @property
    def in_keyvault(self) -> bool:
        """Whether the secret is a Key Vault secret (keyvault://VAULT/NAME[/VERSION])."""
        return self.ref.startswith("keyvault://")

    @property
    def env_name(self) -> str:
        """Name of the environment variable holding the secret (env: references only)."""
        match = _REF.match(self.ref)
        if match is None:
            raise ValueError(f"{self.ref} is not an environment variable reference")
        return match.group("name")

    @property
    def keyvault_parts(self) -> tuple[str, str, str | None]:
        """(vault, secret name, version or None) of a keyvault:// reference."""
        match = _KEYVAULT.match(self.ref)
        if match is None:
            raise ValueError(f"{self.ref} is not a Key Vault reference")
        return match.group("vault"), match.group("name"), match.group("version")

    def is_available(self) -> bool:
        """Whether the secret can be resolved right now without asking a service (a Key
        Vault secret counts as available: `turnout doctor` reads it)."""
        return self.in_keyvault or bool(os.environ.get(self.env_name))

    def resolve(self, *, file: str = "turnout.toml", key: str = "") -> str:
        """The secret's value; a missing one is a configuration error naming the key."""
        if self.in_keyvault:
            from turnout.integrations.keyvault import read_secret

            return read_secret(self, file=file, key=key)
        value = os.environ.get(self.env_name)
        if not value:
            raise ConfigError(
                file, key or None, f"secret reference {self.ref} is not set in the environment"
            )
        return value

    def __repr__(self) -> str:
        return f"SecretRef({self.ref!r})"

    def __str__(self) -> str:
        return self.ref

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretRef) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)


def _to_ref(value: Any) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a secret reference string like 'env:NAME'")
    return SecretRef(value)


def _to_setting(value: Any) -> SecretRef | str:
    if isinstance(value, SecretRef):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return SecretRef(value) if is_reference(value) else value


SecretOrText = Annotated[
    SecretRef | str,
    PlainValidator(_to_setting),
    PlainSerializer(lambda v: v.ref if isinstance(v, SecretRef) else v, return_type=str),
]
"""A setting value: plain text, or a secret reference (`env:NAME`, `keyvault://...`) resolved
where it is used."""


Secret = Annotated[
    SecretRef,
    PlainValidator(_to_ref),
    PlainSerializer(lambda ref: ref.ref, return_type=str),
]
"""Pydantic field type for a secret reference; serialises as the reference, never the value."""
