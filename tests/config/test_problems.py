"""`turnout check` and the loader name every problem of a configuration at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from turnout.cli.main import main
from turnout.config import load_config
from turnout.config.problems import ConfigProblems

# One bad value per kind the loader must refuse, each under its own key.
BROKEN = """
[app]
name = "shop"
eta_minutes = 99999999999999999999
package = "dist/{release}"

[[people]]
name = "ana"
[[people]]
name = "bo"
aliases = ["Ana"]

[checks]
e2e_timeout = 0
e2e_command = "python3 'e2e.py"

[checks.warmup]
timeout = inf

[analysis]
max_p95_ms = nan
min_events = 99999999999999999999

[environments.staging.target]
kind = "local"
command = "  "
admin_timeout = 0

[environments.qa.target]
kind = "local"
command = "{pyhton} -m app"
admin_timeout = inf
settings = { DB = "{config_dir}/{db" }

[environments.production]
staging_environment = "stagign"

[environments.production.target]
kind = "local"
command = "python -m 'app"
drain_timeout = 1e300

[[environments.production.checks.smoke]]
path = "/health"
timeout = 0
expect_status = 2000
"""

EXPECTED_KEYS = [
    "app.eta_minutes",
    "app.package",
    "people",
    "checks.e2e_timeout",
    "checks.e2e_command",
    "checks.warmup.timeout",
    "analysis.max_p95_ms",
    "analysis.min_events",
    "environments.staging.target.command",
    "environments.staging.target.admin_timeout",
    "environments.qa.target.command",
    "environments.qa.target.admin_timeout",
    "environments.qa.target.settings",
    "environments.production.staging_environment",
    "environments.production.target.command",
    "environments.production.target.drain_timeout",
    "environments.production.checks.smoke[0].timeout",
    "environments.production.checks.smoke[0].expect_status",
]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """One load names each bad value by its key, once, inherited ones only at the top level."""
    path = tmp_path / "turnout.toml"
    path.write_text(BROKEN)
    with pytest.raises(ConfigProblems) as caught:
        load_config(path, environ={})
    keys = [problem.key or "" for problem in caught.value.problems]
    assert sorted(keys) == sorted(EXPECTED_KEYS), keys
    assert str(path) in caught.value.message
    assert f"{len(EXPECTED_KEYS)} problems" in caught.value.message


def test_check_prints_every_problem_with_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`turnout check` exits 2 and prints one line per problem: key and what is wrong."""
    path = tmp_path / "turnout.toml"
    path.write_text(BROKEN)
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    lines = [line.strip() for line in err.splitlines()]
    for key in EXPECTED_KEYS:
        assert any(line.startswith(f"{key}: ") for line in lines), (key, err)
    assert "Traceback" not in err
    for words in (
        "empty command",
        "unknown placeholder {pyhton}",
        "no environment 'stagign'",
        "finite number",
        "both answer to 'ana'",
        "out of range",
        "cannot split the command",
    ):
        assert words in err, words


def test_check_json_lists_the_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`turnout check --json` prints valid=false and the problems on stdout, and exits 2."""
    path = tmp_path / "turnout.toml"
    path.write_text(BROKEN)
    assert main(["check", "--json", "--config", str(path)]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is False
    assert sorted(p["key"] for p in document["problems"]) == sorted(EXPECTED_KEYS)


VALID = """
[app]
name = "shop"

[environments.production]
target = { kind = "local", state_dir = "host-state" }

[environments.production.integrations.notify]
urls = ["env:SHOP_HOOK_A", "env:SHOP_HOOK_B"]

[environments.production.integrations.github]
token = "env:SHOP_GITHUB_TOKEN"
"""


def test_check_lists_every_unset_secret_and_unusable_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each unset secret reference and a state_dir that is a file are all named in one run."""
    for name in ("SHOP_HOOK_A", "SHOP_HOOK_B", "SHOP_GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "turnout.toml"
    path.write_text(VALID)
    (tmp_path / "host-state").write_text("not a directory")
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "4 problems" in err
    for key, ref in (
        ("environments.production.integrations.notify.urls[0]", "env:SHOP_HOOK_A"),
        ("environments.production.integrations.notify.urls[1]", "env:SHOP_HOOK_B"),
        ("environments.production.integrations.github.token", "env:SHOP_GITHUB_TOKEN"),
    ):
        assert f"{key}: secret reference {ref} is not set" in err
    assert "environments.production.target.state_dir: unusable directory" in err

    monkeypatch.setenv("SHOP_HOOK_A", "json://127.0.0.1:9/a-secret")
    monkeypatch.setenv("SHOP_HOOK_B", "json://127.0.0.1:9/b-secret")
    monkeypatch.setenv("SHOP_GITHUB_TOKEN", "ghp_secret")
    (tmp_path / "host-state").unlink()
    assert main(["check", "--config", str(path)]) == 0
    assert "secret" not in capsys.readouterr().err
