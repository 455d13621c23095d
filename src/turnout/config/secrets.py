"""Secret references (`env:NAME`), resolved only at the moment of use and never printed."""

from __future__ import annotations

import os
import re
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from turnout.errors import ConfigError

_REF = re.compile(r"^env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")
MASK = "***"


class SecretRef:
    """A reference to a secret; `str()` and `repr()` never show its value."""

    __slots__ = ("ref",)

    def __init__(self, ref: str) -> None:
        if not _REF.match(ref):
            raise ValueError(
                "expected a secret reference like 'env:NAME' (the value is not shown);"
                " secrets are never written into the configuration file"
            )
        self.ref = ref

    @property
    def env_name(self) -> str:
        """Name of the environment variable holding the secret."""
        match = _REF.match(self.ref)
        assert match is not None  # validated in __init__
        return match.group("name")

    def is_available(self) -> bool:
        """Whether the secret can be resolved right now."""
        return bool(os.environ.get(self.env_name))

    def resolve(self, *, file: str = "turnout.toml", key: str = "") -> str:
        """The secret's value; a missing one is a configuration error naming the key."""
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
    return SecretRef(value) if _REF.match(value) else value


SecretOrText = Annotated[
    SecretRef | str,
    PlainValidator(_to_setting),
    PlainSerializer(lambda v: v.ref if isinstance(v, SecretRef) else v, return_type=str),
]
"""A setting value: plain text, or a secret reference (`env:NAME`) resolved where it is used."""


Secret = Annotated[
    SecretRef,
    PlainValidator(_to_ref),
    PlainSerializer(lambda ref: ref.ref, return_type=str),
]
"""Pydantic field type for a secret reference; serialises as the reference, never the value."""
