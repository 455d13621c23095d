"""Configuration of the integrations: defaults from the runbook, mistakes caught at load time."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnout.config import load_config
from turnout.errors import ConfigError

BASE = """
[app]
name = "shop"

[environments.production]
target = { kind = "fake" }
"""


def _write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "turnout.toml"
    path.write_text(BASE + extra)
    return path


def test_defaults_follow_the_runbook(tmp_path: Path) -> None:
    """Without settings: local tracker, runbook labels and log format, no infra phase."""
    env = load_config(_write(tmp_path, "")).env("production")
    integrations = env.integrations
    assert integrations.tracker.kind == "local"
    assert integrations.tracker.labels == ["deployment", "{environment}"]
    assert integrations.tracker.title == "{Environment} Deployment - {date}"
    assert integrations.vcs.tag_format == "v{version}"
    assert integrations.vcs.log_file == "deployments.log"
    assert integrations.vcs.log_format == "{time} - {tag} deployed to {environment}"
    assert integrations.infra is None
    assert integrations.notify.urls == []


def test_github_tracker_without_repository_is_refused(tmp_path: Path) -> None:
    """A GitHub tracker needs a repository; the error names the file and the key."""
    path = _write(tmp_path, '\n[integrations.tracker]\nkind = "github"\ntoken = "env:GH"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "tracker.repo" in caught.value.message
    assert str(path) in caught.value.message


def test_notification_urls_must_be_secret_references(tmp_path: Path) -> None:
    """A webhook URL written into the file is refused without echoing it."""
    url = "https://hooks.slack.com/services/T000/B000/SECRETSECRET"
    path = _write(tmp_path, f'\n[integrations.notify]\nurls = ["{url}"]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "notify.urls" in caught.value.message
    assert "SECRETSECRET" not in caught.value.message


def test_infra_needs_a_token(tmp_path: Path) -> None:
    """The infra phase needs GitHub credentials to dispatch its workflow."""
    path = _write(
        tmp_path,
        '\n[integrations.github]\nrepository = "acme/infra"\n'
        "\n[environments.production.integrations.infra]\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "github.token" in caught.value.message


def test_environment_overrides_merge_over_defaults(tmp_path: Path) -> None:
    """Top-level integration settings are defaults an environment may override key by key."""
    extra = (
        '\n[integrations.notify]\nurls = ["env:HOOK"]\nretries = 4\n'
        "\n[environments.production.integrations.notify]\nretries = 1\n"
    )
    env = load_config(_write(tmp_path, extra)).env("production")
    assert env.integrations.notify.retries == 1
    assert [ref.ref for ref in env.integrations.notify.urls] == ["env:HOOK"]
