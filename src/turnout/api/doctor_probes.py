"""`doctor`: probe every configured integration and credential (the runbook's "Required
Access"). Nothing is sent and nothing is changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from turnout.api.context import ConfigSource, load, open_store
from turnout.errors import Refused, TurnoutError

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig


@dataclass(frozen=True)
class Probe:
    """One probe's result (never holds a secret)."""

    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def _run(name: str, check: Callable[[], str]) -> Probe:
    try:
        return Probe(name, True, check())
    except TurnoutError as exc:
        return Probe(name, False, exc.message)
    except Exception as exc:
        return Probe(name, False, f"{type(exc).__name__}: {exc}")


def _state_store(config: LoadedConfig) -> str:
    with open_store(config) as store:
        store.deployments(limit=1)
        return store.url


def _target(config: LoadedConfig, env: EnvironmentConfig) -> str:
    from turnout.targets.registry import create_target

    target = create_target(config, env)
    try:
        slots = target.slots()
    finally:
        target.close()
    names = ", ".join(sorted(str(name) for name in slots)) or "none yet"
    return f"{env.target.kind} target answers; slots: {names}"


def _database(config: LoadedConfig, env: EnvironmentConfig) -> str:
    from turnout.database.engine_choice import open_driver
    from turnout.database.location import locate

    location = locate(config, env)
    driver = open_driver(location)
    if not driver.exists():
        raise TurnoutError(f"{location.describe()}: not found")
    session = driver.connect()
    try:
        session.query("SELECT 1")
    finally:
        session.close()
    return f"{location.describe()} reachable"


def _notify_url(channel: Any) -> Callable[[], str]:
    from turnout.integrations.notify import check_url

    def check() -> str:
        problem = check_url(channel)
        if problem is not None:
            raise TurnoutError(problem)
        return "Apprise URL parses (nothing sent)"

    return check


def _github(config: LoadedConfig, env: EnvironmentConfig) -> str:
    from turnout.integrations.gh import github_client, github_errors

    github = env.integrations.github
    tracker = env.integrations.tracker
    token = tracker.token or github.token
    assert token is not None
    key = "tracker.token" if tracker.token else "github.token"
    client = github_client(
        token,
        tracker.base_url or github.base_url,
        key=f"environments.{env.name}.integrations.{key}",
        file=str(config.path),
    )
    name = tracker.repo or github.repository
    try:
        if name:
            with github_errors(f"repository {name}"):
                repo = client.get_repo(name)
                permissions = repo.permissions
            write = bool(permissions and (permissions.push or permissions.admin))
            if not write:
                raise TurnoutError(f"token can read {name} but has no write access")
            return f"token has write access to {name}"
        with github_errors("GET /user"):
            login = client.get_user().login
        return f"token accepted (user {login})"
    finally:
        client.close()


def _pagerduty(config: LoadedConfig, env: EnvironmentConfig) -> str:
    from turnout.integrations import pagerduty

    settings = env.integrations.incidents.pagerduty
    assert settings is not None
    client = pagerduty.pagerduty_client(
        config, settings, key=f"environments.{env.name}.integrations.incidents.pagerduty"
    )
    try:
        pagerduty.check_token(client)
    finally:
        client.close()
    return f"token accepted by {settings.base_url}"


def _change_events(config: LoadedConfig, env: EnvironmentConfig) -> str:
    # The Events API has no read-only call: a change event would land on the timeline.
    settings = env.integrations.change_events.pagerduty
    assert settings is not None
    key = f"environments.{env.name}.integrations.change_events.pagerduty.routing_key"
    settings.routing_key.resolve(file=str(config.path), key=key)
    return f"routing key {settings.routing_key} is set (nothing sent)"


def _azure_health(config: LoadedConfig, env: EnvironmentConfig) -> str:
    from turnout.integrations.azure_health import health_issues

    settings = env.integrations.incidents.azure
    assert settings is not None
    found = health_issues(config, env, settings)
    return f"Resource Health answers; {len(found)} active issue(s) concern the app"


def _git(config: LoadedConfig, env: EnvironmentConfig) -> str:
    from turnout.integrations.vcs import git, has_identity, is_repository, push_credentials

    repo = config.resolve_path(config.root.app.repository)
    if not is_repository(repo):
        raise TurnoutError(f"{repo} is not a git repository (app.repository)")
    notes = [f"{repo} is a git repository"]
    if env.integrations.vcs.tag and not has_identity(repo):
        notes.append("no git identity: tags name the deployer")
    remote = env.integrations.vcs.push_remote
    if remote:
        credentials = push_credentials(env.integrations.vcs, str(config.path))
        git(
            repo,
            "ls-remote",
            "--heads",
            remote,
            env=credentials.environment() if credentials else None,
        )
        notes.append(f"remote {remote} reachable")
    return "; ".join(notes)


def _target_probes(
    config: LoadedConfig, env: EnvironmentConfig
) -> list[tuple[str, Callable[[], str]]]:
    """The probes the environment's target plugin brings for itself (its `doctor` entry)."""
    from turnout.config.plugins import load_reference, target_plugins

    plugin = target_plugins().get(env.target.kind)
    if plugin is None or plugin.doctor is None:
        return []
    try:
        contribute = load_reference(plugin.doctor)
        return list(contribute(config, env))
    except Exception as exc:  # a plugin that cannot list its probes fails as one probe

        def failed(error: Exception = exc) -> str:
            raise TurnoutError(
                f"the {env.target.kind} target's probes ({plugin.doctor}) could not be listed:"
                f" {type(error).__name__}: {error}"
            ) from error

        return [(f"{env.target.kind} probes", failed)]


def _arm(config: LoadedConfig, env: EnvironmentConfig) -> str:
    """The ARM infrastructure phase's resource group: its deployments can be read."""
    from turnout.config.arm import ArmInfraConfig
    from turnout.integrations.arm import open_client

    settings = env.integrations.infra
    assert isinstance(settings, ArmInfraConfig)
    key = f"environments.{env.name}.integrations.infra"
    client = open_client(settings, env, file=str(config.path), key=key)
    try:
        recent = client.recent()
    finally:
        client.close()
    latest = f"; latest {recent[0].name} ({recent[0].provisioning_state})" if recent else ""
    return f"resource group {settings.resource_group}: deployments readable{latest}"


def probes(config: LoadedConfig, env: EnvironmentConfig) -> list[Probe]:
    """Every probe that applies to the environment's configuration."""
    integrations = env.integrations
    found = [
        _run("state store", lambda: _state_store(config)),
        _run("target", lambda: _target(config, env)),
    ]
    found.extend(_run(name, check) for name, check in _target_probes(config, env))
    if env.database.url:
        found.append(_run("database", lambda: _database(config, env)))
    from turnout.integrations.notify import apprise_channels

    for index, channel in enumerate(apprise_channels(config, env)):
        found.append(_run(f"notify.urls[{index}]", _notify_url(channel)))
    if integrations.tracker.token or integrations.github.token:
        found.append(_run("github token", lambda: _github(config, env)))
    if integrations.incidents.pagerduty is not None:
        found.append(_run("pagerduty token", lambda: _pagerduty(config, env)))
    if integrations.change_events.pagerduty is not None:
        found.append(_run("pagerduty routing key", lambda: _change_events(config, env)))
    if integrations.incidents.azure is not None:
        found.append(_run("azure service health", lambda: _azure_health(config, env)))
    if integrations.infra is not None and integrations.infra.kind == "arm":
        found.append(_run("arm deployments", lambda: _arm(config, env)))
    if integrations.vcs.tag or integrations.vcs.push_remote:
        found.append(_run("git repository", lambda: _git(config, env)))
    from turnout.integrations.keyvault import doctor_checks

    found.extend(_run(name, check) for name, check in doctor_checks(config, env))
    return found


@dataclass(frozen=True)
class DoctorResult:
    """Every probe that applies to the environment, each ok or failed with why."""

    environment: str
    probes: tuple[Probe, ...]

    @property
    def failed(self) -> tuple[Probe, ...]:
        """The probes that failed."""
        return tuple(p for p in self.probes if not p.ok)

    @property
    def ok(self) -> bool:
        """Whether every probe passed."""
        return not self.failed

    def refusal(self) -> Refused | None:
        """The error `turnout doctor` ends with when a probe failed (exit 3), else None."""
        if self.ok:
            return None
        names = ", ".join(probe.name for probe in self.failed)
        return Refused(f"doctor: {len(self.failed)} of {len(self.probes)} probes failed ({names})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout doctor --json` prints)."""
        return {
            "environment": self.environment,
            "ok": self.ok,
            "probes": [p.to_dict() for p in self.probes],
        }


def doctor(env: str, *, config: ConfigSource = None) -> DoctorResult:
    """Probe every configured integration and credential; nothing is sent or changed."""
    loaded = load(config)
    environment = loaded.env(env)
    return DoctorResult(environment.name, tuple(probes(loaded, environment)))
