"""Load `turnout.toml`: parse, apply environment overrides, validate, resolve environments."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from turnout.config.plugins import target_plugins
from turnout.config.problems import ConfigProblems, Problem
from turnout.config.root import MERGED_SECTIONS, EnvironmentConfig, TurnoutConfig
from turnout.config.secrets import SecretRef
from turnout.config.targets import TargetSettings
from turnout.errors import BadInput, ConfigError, PackageError

M = TypeVar("M", bound=BaseModel)

CONFIG_NAME = "turnout.toml"
OVERRIDE_PREFIX = "TURNOUT__"


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and where it came from."""

    path: Path
    root: TurnoutConfig
    environments: dict[str, EnvironmentConfig] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        """Directory of the configuration file; relative paths are resolved against it."""
        return self.path.parent

    @property
    def state_dir(self) -> Path:
        """turnout's own working directory next to the configuration (.turnout/)."""
        return self.base_dir / ".turnout"

    def env(self, name: str) -> EnvironmentConfig:
        """The named environment, or a bad-input error listing the known ones."""
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise ConfigError(
                str(self.path), f"environments.{name}", f"no such environment (known: {known})"
            ) from None

    def resolve_path(self, value: str | Path) -> Path:
        """A path from the configuration, made absolute relative to the file's directory."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def release_package(self, version: str) -> Path:
        """Where the release package of `version` is (app.package filled in); PackageError
        when nothing is there."""
        app = self.root.app
        path = self.resolve_path(app.package.format(name=app.name, version=version))
        if not path.exists():
            raise PackageError(f"{path}: release package for {version} not found")
        return path

    def secret_refs(self) -> list[tuple[str, SecretRef]]:
        """Every secret reference in the configuration with its key path."""
        found: list[tuple[str, SecretRef]] = []
        _collect_refs(self.root, "", found)
        for name, env in self.environments.items():
            _collect_refs(env, f"environments.{name}", found)
        return found


def _collect_refs(value: Any, prefix: str, out: list[tuple[str, SecretRef]]) -> None:
    if isinstance(value, SecretRef):
        out.append((prefix, value))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect_refs(getattr(value, name), f"{prefix}.{name}" if prefix else name, out)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _collect_refs(item, f"{prefix}[{i}]", out)
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect_refs(item, f"{prefix}.{key}", out)


def find_config(start: Path | None = None) -> Path:
    """`turnout.toml` in the given directory or the nearest parent."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        str(here / CONFIG_NAME), None, "no turnout.toml here or in any parent (run `turnout init`)"
    )


def load_config(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Read, override, validate. Every problem is a ConfigError naming file and key."""
    config_path = (path or find_config()).resolve()
    file = str(config_path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, None, f"cannot read: {exc}") from None
    # The TOML parser is imported by what parses: a command reading the remembered
    # configuration (config.remembered) never does.
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, None, f"not valid TOML: {exc}") from None

    apply_overrides(data, os.environ if environ is None else environ, file)
    problems: list[Problem] = []
    # Everything is validated even after a first problem, so one run names them all.
    root = _validate(TurnoutConfig, data, prefix="", problems=problems)
    raw_environments = data.get("environments")
    environments: dict[str, EnvironmentConfig] = {}
    for name, raw in (raw_environments if isinstance(raw_environments, dict) else {}).items():
        prefix = f"environments.{name}"
        if not isinstance(raw, dict):
            problems.append(Problem(prefix, "expected a table"))
            continue
        merged = _merge_environment(data, raw)
        merged["name"] = name
        found: list[Problem] = []
        target = _validate_target(raw.get("target"), prefix=f"{prefix}.target", problems=found)
        # The rest of the environment is validated whatever the target's problems, so one
        # run names them all.
        merged["target"] = target or TargetSettings.model_construct(kind="?")
        inherited: list[Problem] = []
        env = _validate(
            EnvironmentConfig, merged, prefix=prefix, problems=found, given=raw, left=inherited
        )
        if env is None and not found and root is not None:
            # The top level validated, so what was left out as inherited is the merge's
            # own doing: name it rather than let the environment vanish unexplained.
            found.extend(inherited)
        problems.extend(found)
        if env is not None and target is not None:
            environments[name] = env
    problems.extend(_cross_problems(raw_environments))
    if problems or root is None:
        raise ConfigProblems(file, problems)
    return LoadedConfig(path=config_path, root=root, environments=environments)


def _validate_target(raw: Any, *, prefix: str, problems: list[Problem]) -> TargetSettings | None:
    """The second pass for `[environments.NAME.target]`: the table is validated by the model
    of the installed target its `kind` names. There is no default target."""
    installed = target_plugins()
    known = ", ".join(installed) or "none"
    if raw is None:
        wanted = f"where the app runs, a table with a kind (installed: {known})"
        problems.append(Problem(prefix, f"required key is missing: {wanted}"))
        return None
    if not isinstance(raw, dict):
        problems.append(Problem(prefix, "expected a table"))
        return None
    kind = raw.get("kind")
    if kind is None:
        problems.append(Problem(f"{prefix}.kind", f"required key is missing (installed: {known})"))
        return None
    plugin = installed.get(kind) if isinstance(kind, str) else None
    if plugin is None:
        problems.append(
            Problem(f"{prefix}.kind", f"no target {kind!r} is installed (installed: {known})")
        )
        return None
    return _validate(plugin.settings, raw, prefix=prefix, problems=problems)


def _cross_problems(environments: Any) -> list[Problem]:
    """What no single table can know: references from one environment to another.

    Read from the raw tables, so an environment with other problems is checked too."""
    problems: list[Problem] = []
    if not isinstance(environments, dict):
        return problems
    for name, raw in environments.items():
        staging = raw.get("staging_environment") if isinstance(raw, dict) else None
        if not isinstance(staging, str):
            continue  # absent, or the wrong type (the model names that)
        if staging not in environments:
            known = ", ".join(sorted(n for n in environments if n != name)) or "none"
            problems.append(
                Problem(
                    f"environments.{name}.staging_environment",
                    f"no environment {staging!r} (known: {known})",
                )
            )
        elif staging == name:
            problems.append(
                Problem(
                    f"environments.{name}.staging_environment",
                    "an environment cannot be its own staging environment",
                )
            )
    return problems


def _merge_environment(data: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    merged = dict(raw)
    for section in MERGED_SECTIONS:
        default = data.get(section)
        if isinstance(default, dict):
            override = raw.get(section, {})
            merged[section] = deep_merge(default, override if isinstance(override, dict) else {})
    return merged


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`, tables merged key by key, everything else replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _validate(
    model: type[M],
    data: dict[str, Any],
    *,
    prefix: str,
    problems: list[Problem],
    given: dict[str, Any] | None = None,
    left: list[Problem] | None = None,
) -> M | None:
    """The model, or None with every validation error appended to `problems`.

    With `given` (an environment's own table), errors in values the environment inherited
    from the top-level sections are left out (into `left`): the top level's validation
    names them once.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            problem = Problem(_key(prefix, loc) or None, _describe(error))
            if given is not None and loc and loc[0] in MERGED_SECTIONS:
                # A missing key is never in the table: whose error it is depends on who
                # wrote the table that lacks it.
                owner = loc[:-1] if error.get("type") == "missing" else loc
                if not _has(given, owner):
                    if left is not None:
                        left.append(problem)
                    continue
            problems.append(problem)
        return None


def _has(table: Any, loc: tuple[Any, ...]) -> bool:
    """Whether the key path `loc` (or a table or list on its way) is set in `table` itself."""
    for part in loc:
        if isinstance(part, str) and part.startswith("<"):
            continue  # a tagged union's branch, not a key (see _key)
        if isinstance(table, list) and isinstance(part, int):
            # A list replaces the inherited one whole: its items are the environment's own.
            return True
        if not isinstance(table, dict) or part not in table:
            return False
        table = table[part]
    return True


def _key(prefix: str, loc: tuple[Any, ...]) -> str:
    """A dotted key path; list indexes as [i]."""
    key = prefix
    for part in loc:
        if isinstance(part, str) and part.startswith("<"):
            continue  # a tagged union's branch (DatabaseConfig.migrations), not a key
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key = f"{key}.{part}" if key else str(part)
    return key


def _describe(error: Any) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    given = error.get("input")
    if (
        kind not in {"missing"}
        and isinstance(given, str | int | float | bool)
        and "secret" not in message
    ):
        return f"{message} (got {given!r})"
    return message


def apply_overrides(data: dict[str, Any], environ: Mapping[str, str], file: str) -> None:
    """Apply `TURNOUT__A__B=value` variables: the key path a.b is set to value.

    The value is read as a TOML value when it parses as one (numbers, booleans,
    quoted strings, arrays), otherwise taken as a plain string.
    """
    for name, value in sorted(environ.items()):
        if not name.startswith(OVERRIDE_PREFIX):
            continue
        path = [part.lower() for part in name[len(OVERRIDE_PREFIX) :].split("__") if part]
        if not path:
            continue
        target: dict[str, Any] = data
        for part in path[:-1]:
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(file, ".".join(path), f"override {name} goes through a non-table")
            target = nxt
        target[path[-1]] = _parse_override(value)


def _parse_override(value: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def require_file(path: Path, what: str) -> Path:
    """A path that must exist, or a bad-input error naming it."""
    if not path.exists():
        raise BadInput(f"{path}: {what} not found")
    return path
