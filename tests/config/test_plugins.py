"""Plugins found through entry points: a target with its own configuration model, a metrics
provider and a notification channel, each from a distribution installed on sys.path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.in_process import turnout_in_process
from turnout.analysis.provider import choose_provider
from turnout.config import load_config
from turnout.config.plugins import channel_plugins, metrics_plugins, target_plugins
from turnout.config.problems import ConfigProblems
from turnout.integrations.messages import MessageKind
from turnout.integrations.notify import notifier_for
from turnout.targets.registry import create_target

PLUGIN = """
from typing import Literal

from pydantic import Field

from turnout.config.plugins import ChannelPlugin, MetricsPlugin, TargetPlugin
from turnout.config.targets import TargetSettings
from turnout.analysis.provider import ProviderChoice
from turnout.targets.fake import FakeTarget


class ToySettings(TargetSettings):
    kind: Literal["toy"] = "toy"
    colour: Literal["red", "green"]
    size: int = Field(default=1, ge=1)


class ToyTarget(FakeTarget):
    def __init__(self, name, colour):
        super().__init__(name)
        self.colour = colour


def create(config, env):
    return ToyTarget(env.name, env.target.colour)


class ToyMetrics:
    name = "toy-metrics"
    step = 1.0
    settle = 0.0

    def buckets(self, slot, since, until=None):
        return []

    def close(self):
        return None


def choose(config, env, target):
    return ProviderChoice(ToyMetrics(), "counted by the toy")


SENT = []


class ToyChannel:
    label = "toy"

    def deliver(self, message, timeout):
        SENT.append(message.title)


def channels(config, env):
    return [ToyChannel()]


def probes(config, env):
    return [("toy colour", lambda: f"the toy is {env.target.colour}")]


TARGET = TargetPlugin("toy", ToySettings, "toy_turnout:create", doctor="toy_turnout:probes")
METRICS = MetricsPlugin("toy-metrics", "toy_turnout:choose")
CHANNELS = ChannelPlugin("toy-chat", "toy_turnout:channels")
"""

ENTRY_POINTS = """
[turnout.targets]
toy = toy_turnout:TARGET

[turnout.metrics_providers]
toy-metrics = toy_turnout:METRICS

[turnout.notify_channels]
toy-chat = toy_turnout:CHANNELS
"""

CONFIG = """
[app]
name = "shop"

[analysis]
provider = "toy-metrics"

[environments.web]
target = { kind = "toy", colour = "green" }
"""


def install_toy(site: Path) -> Path:
    """A distribution `toy-turnout` on `site` declaring the three entry points."""
    site.mkdir(parents=True)
    (site / "toy_turnout.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "toy_turnout-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-turnout\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The toy plugin installed for this test (the plugin lists are read again)."""
    site = install_toy(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    for cached in (target_plugins, metrics_plugins, channel_plugins):
        cached.cache_clear()
    yield site
    sys.modules.pop("toy_turnout", None)
    for cached in (target_plugins, metrics_plugins, channel_plugins):
        cached.cache_clear()


def write(folder: Path, text: str) -> Path:
    """A turnout.toml with `text`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "turnout.toml"
    path.write_text(text)
    return path


def test_target_plugin_brings_its_own_settings_model(toy: Path, tmp_path: Path) -> None:
    """A target installed by entry point validates its own keys and builds its client."""
    config = load_config(write(tmp_path / "project", CONFIG))
    env = config.env("web")
    assert type(env.target).__name__ == "ToySettings"
    assert (env.target.kind, getattr(env.target, "colour", None)) == ("toy", "green")
    target = create_target(config, env)
    assert type(target).__name__ == "ToyTarget" and getattr(target, "colour", None) == "green"


def test_plugin_settings_errors_name_the_key_with_every_other_problem(
    toy: Path, tmp_path: Path
) -> None:
    """The plugin's model names its bad keys, alongside the other problems of the file."""
    text = CONFIG.replace('colour = "green"', 'colour = "blue", size = 0, shape = "round"')
    text += "\n[environments.web.checks]\nhealth_nope = 1\n"
    with pytest.raises(ConfigProblems) as caught:
        load_config(write(tmp_path / "project", text))
    keys = sorted(str(problem.key) for problem in caught.value.problems)
    assert keys == [
        "environments.web.checks.health_nope",
        "environments.web.target.colour",
        "environments.web.target.shape",
        "environments.web.target.size",
    ]


def test_unknown_target_kind_lists_the_installed_ones(toy: Path, tmp_path: Path) -> None:
    """A kind no installed distribution provides is named, with the kinds that are."""
    text = CONFIG.replace('kind = "toy"', 'kind = "mainframe"')
    with pytest.raises(ConfigProblems) as caught:
        load_config(write(tmp_path / "project", text))
    [problem] = caught.value.problems
    assert problem.key == "environments.web.target.kind"
    assert "'mainframe'" in problem.text
    assert "azure, fake, local, toy" in problem.text


def test_metrics_provider_plugin_is_chosen_by_name(toy: Path, tmp_path: Path) -> None:
    """analysis.provider names an installed provider; its factory gives the provider."""
    config = load_config(write(tmp_path / "project", CONFIG))
    env = config.env("web")
    choice = choose_provider(config, env, create_target(config, env))
    assert choice.provider is not None and choice.provider.name == "toy-metrics"
    assert choice.note == "counted by the toy"


def test_unknown_metrics_provider_is_a_configuration_error(toy: Path, tmp_path: Path) -> None:
    """A provider nobody installed is refused naming analysis.provider and the known ones."""
    text = CONFIG.replace('provider = "toy-metrics"', 'provider = "datadog"')
    with pytest.raises(ConfigProblems) as caught:
        load_config(write(tmp_path / "project", text))
    [problem] = caught.value.problems
    assert problem.key == "analysis.provider"
    assert "'datadog'" in problem.text and "toy-metrics" in problem.text


def test_notification_channel_plugin_receives_announcements(toy: Path, tmp_path: Path) -> None:
    """Every installed channel kind adds the environment's channels to the notifier."""
    config = load_config(write(tmp_path / "project", CONFIG))
    lines: list[str] = []
    notifier = notifier_for(config, config.env("web"), console=lines.append)
    deliveries = notifier.send(
        MessageKind.START,
        {"environment": "web", "version": "1.0.0", "deployer": "sam", "changes": "", "eta": 5},
    )
    assert [d.channel for d in deliveries] == ["console", "toy"]
    assert all(d.ok for d in deliveries)
    import toy_turnout  # type: ignore[import-not-found]  # written by the fixture

    assert len(toy_turnout.SENT) == 1


def test_check_command_validates_a_plugin_target(tmp_path: Path) -> None:
    """`turnout check` in a fresh process finds the plugin through its entry point."""
    site = install_toy(tmp_path / "site")
    path = write(tmp_path / "project", CONFIG.replace('"green"', '"blue"'))
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "turnout", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "environments.web.target.colour" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_target_plugin_contributes_its_doctor_probes(toy: Path, tmp_path: Path) -> None:
    """`turnout doctor` runs the probes a target plugin's `doctor` entry lists, by name."""
    # No git repository here: tagging off, so every probe that applies can pass.
    text = CONFIG + "\n[environments.web.integrations.vcs]\ntag = false\n"
    path = write(tmp_path / "project", text)
    done = turnout_in_process(
        ["doctor", "--env", "web", "--json", "--config", str(path)], cwd=path.parent, env={}
    )
    assert done.returncode == 0, done.stderr
    found = {probe["name"]: probe for probe in json.loads(done.stdout)["probes"]}
    assert found["toy colour"] == {"name": "toy colour", "ok": True, "detail": "the toy is green"}
    assert found["target"]["ok"] is True
