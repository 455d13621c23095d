"""Checks for the configuration's text templates (`{version}` and friends), at load time.

A template that names an unknown placeholder, or one `str.format` cannot parse, would
otherwise fail in the middle of a deployment; the loader refuses it up front instead.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Collection


def placeholders(template: str) -> list[str]:
    """The placeholder names of a `str.format` template; ValueError when it does not parse."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(
            f"not a valid template: {exc} (write a literal brace as {{{{ or }}}})"
        ) from None
    for name in fields:
        # "{}" and "{0}" are positional, "{a.b}" and "{a[0]}" reach into values: none is filled.
        if not name.isidentifier():
            raise ValueError(f"placeholder {{{name}}} is not a name")
    return fields


def check_template(template: str, allowed: Collection[str]) -> str:
    """`template` when it parses and names only `allowed` placeholders; ValueError otherwise."""
    for name in placeholders(template):
        if name not in allowed:
            known = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none"
            raise ValueError(f"unknown placeholder {{{name}}} (known: {known})")
    return template


def check_command_template(template: str, allowed: Collection[str]) -> str:
    """A command template: a valid template that splits like a shell into a non-empty argv."""
    if not template.strip():
        raise ValueError("empty command")
    check_template(template, allowed)
    try:
        argv = shlex.split(template)
    except ValueError as exc:
        raise ValueError(f"cannot split the command like a shell would: {exc}") from None
    if not argv:
        raise ValueError("empty command")
    return template


def check_shell_command(command: str) -> str:
    """A command run by the shell: not empty, and its quotes are balanced."""
    if not command.strip():
        raise ValueError("empty command")
    try:
        shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"the shell cannot parse this command: {exc}") from None
    return command
