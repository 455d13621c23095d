"""Read an ARM deployment's template and parameters: next to turnout.toml or inside the
release package, JSON or Bicep (compiled by the `bicep` CLI, as `az` does).

Every problem is a ConfigError naming turnout.toml, the key that names the file, and the
file itself, raised before anything is sent to Azure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from turnout.config.arm import ArmInfraConfig
from turnout.errors import ConfigError

BICEP_TIMEOUT = 120.0
"""Seconds `bicep build` may take."""


@dataclass(frozen=True)
class ArmTemplate:
    """A template and the parameter values to deploy it with (ARM's wire shapes)."""

    template: dict[str, Any]
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Parameter name -> {"value": ...} (or a Key Vault {"reference": ...})."""
    source: str = ""
    """Where the template came from, for people."""

    def resource_names(self) -> list[str]:
        """TYPE/NAME of each top-level resource the template declares (as written)."""
        resources = self.template.get("resources")
        items = resources.values() if isinstance(resources, dict) else resources or []
        return [
            f"{r.get('type')}/{r.get('name')}"
            for r in items
            if isinstance(r, dict) and "type" in r and "name" in r
        ]


@dataclass(frozen=True)
class _Where:
    """The key naming a file, and how to say both in a message."""

    config_file: str
    key: str
    name: str

    def error(self, problem: str) -> ConfigError:
        return ConfigError(self.config_file, self.key, f"{self.name}: {problem}")


def read_template(
    settings: ArmInfraConfig,
    *,
    config_file: Path,
    key: str,
    package: Path | None,
    environment: str,
    version: str,
) -> ArmTemplate:
    """The template and parameters `settings` name, with `values` over the file's."""
    where = _Where(str(config_file), f"{key}.template", settings.template)
    text = _read(settings.template, settings, config_file, package, where)
    if settings.template.lower().endswith(".bicep"):
        # In the repository the file is compiled where it is, so its modules resolve.
        here = None if settings.from_release else _local(settings.template, config_file)
        text = _compile_bicep(text, where, here)
    template = _json_object(text, where)
    if not isinstance(template.get("resources"), list | dict):
        raise where.error("not an ARM template (it has no `resources`)")
    parameters: dict[str, dict[str, Any]] = {}
    if settings.parameters is not None:
        pwhere = _Where(str(config_file), f"{key}.parameters", settings.parameters)
        document = _json_object(
            _read(settings.parameters, settings, config_file, package, pwhere), pwhere
        )
        parameters = _parameters_of(document, pwhere)
    fill = {"environment": environment, "version": version}
    for name, value in settings.values.items():
        parameters[name] = {"value": value.format(**fill) if isinstance(value, str) else value}
    for name, ref in settings.secrets.items():
        parameters[name] = {
            "value": ref.resolve(file=str(config_file), key=f"{key}.secrets.{name}")
        }
    declared = template.get("parameters")
    declared = declared if isinstance(declared, dict) else {}
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ConfigError(
            str(config_file),
            f"{key}.{_holder(unknown[0], settings)}",
            f"{settings.template} declares no parameter {unknown[0]!r}"
            f" (declared: {', '.join(sorted(declared)) or 'none'})",
        )
    missing = [
        name
        for name, spec in declared.items()
        if name not in parameters and not (isinstance(spec, dict) and "defaultValue" in spec)
    ]
    if missing:
        raise ConfigError(
            str(config_file),
            f"{key}.values",
            f"{settings.template} needs a value for parameter {missing[0]!r}"
            " (in the parameters file or `values`)",
        )
    source = f"{settings.template} ({'release package' if settings.from_release else 'repository'})"
    return ArmTemplate(template, parameters, source)


def _holder(name: str, settings: ArmInfraConfig) -> str:
    """The key that gave parameter `name` its value."""
    if name in settings.secrets:
        return f"secrets.{name}"
    return "values" if name in settings.values else "parameters"


def _read(
    name: str, settings: ArmInfraConfig, config_file: Path, package: Path | None, where: _Where
) -> str:
    if not settings.from_release:
        path = _local(name, config_file)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise where.error(f"not found (looked for {path})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise where.error(f"cannot read: {exc}") from None
    member = PurePosixPath(name)
    if member.is_absolute() or ".." in member.parts:
        raise where.error("a path inside the release package may not leave it")
    if package is None:
        raise where.error("from_release needs the release package, and there is none")
    try:
        if package.is_dir():
            return (package / member).read_text(encoding="utf-8")
        with zipfile.ZipFile(package) as archive:
            return archive.read(str(member)).decode("utf-8")
    except (KeyError, FileNotFoundError):
        raise where.error(f"not in the release package {package.name}") from None
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise where.error(f"cannot read it from {package.name}: {exc}") from None


def _local(name: str, config_file: Path) -> Path:
    """A path from the configuration, relative to turnout.toml's folder."""
    path = Path(name).expanduser()
    return path if path.is_absolute() else config_file.parent / path


def _json_object(text: str, where: _Where) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise where.error(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(document, dict):
        raise where.error("expected a JSON object")
    return document


def _parameters_of(document: dict[str, Any], where: _Where) -> dict[str, dict[str, Any]]:
    """`{"parameters": {"name": {"value": ...}}}`, the deployment parameters file's shape."""
    values = document.get("parameters")
    if not isinstance(values, dict):
        raise where.error("not a deployment parameters file (it has no `parameters` object)")
    out: dict[str, dict[str, Any]] = {}
    for name, entry in values.items():
        if not isinstance(entry, dict) or not ({"value", "reference"} & set(entry)):
            raise where.error(f"parameter {name!r} has neither `value` nor `reference`")
        out[name] = dict(entry)
    return out


def _compile_bicep(text: str, where: _Where, path: Path | None) -> str:
    """The JSON `bicep build --stdout` makes of a Bicep file (the CLI must be installed):
    the file at `path`, or `text` written to a temporary file (from a release package)."""
    program = shutil.which("bicep")
    if program is None:
        raise where.error("a Bicep file needs the bicep CLI on PATH (or give the compiled JSON)")
    with tempfile.TemporaryDirectory() as folder:
        source = path
        if source is None:
            source = Path(folder) / "main.bicep"
            source.write_text(text, encoding="utf-8")
        try:
            done = subprocess.run(
                [program, "build", "--stdout", str(source)],
                capture_output=True,
                text=True,
                timeout=BICEP_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise where.error(f"bicep build did not finish: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise where.error(f"bicep build failed: {last}")
    return done.stdout
