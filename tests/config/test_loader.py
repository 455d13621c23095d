"""Malformed configurations: exit 2, one message naming file and key, nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnout.cli.main import main

VALID = """
[app]
name = "shop"

[environments.production]
target = { kind = "fake" }
"""

CASES = {
    "bad TOML": ("[app\nname = 'x'", "not valid TOML"),
    "unknown key": (VALID + "\n[analysis]\nalpah = 0.05\n", "analysis.alpah: unknown key"),
    "wrong type": (
        VALID.replace('kind = "fake" }', 'kind = "fake", healthy = "maybe" }'),
        "environments.production.target",
    ),
    "missing app": ('[environments.production]\ntarget = { kind = "fake" }\n', "app: required"),
    "bad secret reference": (
        VALID + '\n[integrations.notify]\nurls = ["https://hooks/x"]\n',
        "integrations.notify.urls[0]",
    ),
    "unknown target kind": (
        VALID.replace('"fake"', '"mainframe"'),
        "environments.production.target",
    ),
    "no environments": ('[app]\nname = "shop"\n[environments]\n', "environments"),
    "environment without a target": (
        VALID.replace('target = { kind = "fake" }', 'staging_environment = "production"'),
        "environments.production.target: required key is missing",
    ),
    "environment's own table without a required key": (
        VALID + "\n[environments.production.integrations.change_events.pagerduty]\n"
        'base_url = "https://events.example"\n',
        "environments.production.integrations.change_events.pagerduty.routing_key:"
        " required key is missing",
    ),
    "environment's own migration tool without its tool": (
        VALID + "\n[environments.production.database]\n"
        'url = "sqlite:///app.db"\nmigrations = { program = "python3" }\n',
        "environments.production.database.migrations.tool: required key is missing",
    ),
    "target without a kind": (
        VALID.replace('{ kind = "fake" }', '{ staging_slot = "green" }'),
        "environments.production.target.kind: required key is missing (installed:",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_config_exits_2_naming_the_key(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each kind of malformed configuration gives exit 2 and a message with file and key."""
    text, expected = CASES[case]
    path = tmp_path / "turnout.toml"
    path.write_text(text)
    code = main(["check", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert str(path) in err.replace("\n", "")
    assert expected in err.replace("\n", "")
    assert "Traceback" not in err
    assert not (tmp_path / ".turnout").exists()


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A configuration file that does not exist is bad input, named in the message."""
    code = main(["check", "--config", str(tmp_path / "nope.toml")])
    assert code == 2
    assert "nope.toml: file not found" in capsys.readouterr().err.replace("\n", "")


def test_unset_secret_reference_is_reported_by_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`check` names the key whose secret reference is not set, without printing any value."""
    monkeypatch.delenv("SHOP_HOOK", raising=False)
    path = tmp_path / "turnout.toml"
    path.write_text(VALID + '\n[integrations.notify]\nurls = ["env:SHOP_HOOK"]\n')
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert "integrations.notify.urls[0]" in err and "env:SHOP_HOOK" in err
    monkeypatch.setenv("SHOP_HOOK", "json://127.0.0.1:9/very-secret-token")
    assert main(["check", "--config", str(path)]) == 0
    assert "very-secret-token" not in capsys.readouterr().err


def test_environment_override_changes_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TURNOUT__A__B variables override keys, typed as TOML values."""
    from turnout.config import load_config

    path = tmp_path / "turnout.toml"
    path.write_text(VALID + '\n[environments.staging]\ntarget = { kind = "fake" }\n')
    monkeypatch.setenv("TURNOUT__ANALYSIS__ALPHA", "0.05")
    monkeypatch.setenv("TURNOUT__ENVIRONMENTS__PRODUCTION__STAGING_ENVIRONMENT", "staging")
    loaded = load_config(path)
    assert loaded.env("production").analysis.alpha == 0.05
    assert loaded.env("production").staging_environment == "staging"


def test_environment_sections_deep_merge_over_defaults(tmp_path: Path) -> None:
    """An environment's table overrides only the keys it sets; the rest come from the top."""
    from turnout.config import load_config

    path = tmp_path / "turnout.toml"
    path.write_text(
        VALID + "\n[analysis]\nalpha = 0.02\nmax_p95_ms = 300\n"
        "[environments.production.analysis]\nmax_p95_ms = 800\n"
    )
    analysis = load_config(path).env("production").analysis
    assert (analysis.alpha, analysis.max_p95_ms) == (0.02, 800)


def test_unknown_environment_is_bad_input(tmp_path: Path) -> None:
    """Asking for an environment the file does not define names the known ones."""
    from turnout.config import load_config
    from turnout.errors import ConfigError

    path = tmp_path / "turnout.toml"
    path.write_text(VALID)
    with pytest.raises(
        ConfigError, match=r"environments\.prod: no such environment \(known: production\)"
    ):
        load_config(path).env("prod")


def test_inherited_problem_is_named_once_and_own_ones_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A top-level table's missing key is named once, not per environment, and an
    environment's own missing key is still named beside it."""
    path = tmp_path / "turnout.toml"
    path.write_text(
        VALID + '[environments.staging]\ntarget = { kind = "fake" }\n'
        '[environments.staging.database]\nurl = "sqlite:///app.db"\n'
        'migrations = { program = "python3" }\n'
        '[integrations.change_events.pagerduty]\nbase_url = "https://events.example"\n'
    )
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert err.count("pagerduty.routing_key: required key is missing") == 1
    assert "environments.production.integrations" not in err
    assert "environments.staging.database.migrations.tool: required key is missing" in err
