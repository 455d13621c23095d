"""Each preset's commands as built from the configuration; bad settings name their key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from turnout.config.migration_commands import MigrationCommands
from turnout.database.commands.presets import resolve


def test_flyway_preset_builds_its_commands(tmp_path: Path) -> None:
    """Flyway: `migrate` and `-outputType=json info`, its configuration file as an
    argument, the JDBC URL in FLYWAY_URL."""
    commands = resolve(MigrationCommands(tool="flyway", project="conf/flyway.toml"), tmp_path)
    assert commands.apply == ("flyway", "-configFiles=conf/flyway.toml", "migrate")
    assert commands.listing.commands == (
        ("flyway", "-configFiles=conf/flyway.toml", "-outputType=json", "info"),
    )
    assert (commands.url_variable, commands.url_style) == ("FLYWAY_URL", "jdbc")


def test_django_preset_uses_the_release_venv(tmp_path: Path) -> None:
    """Django in one line: manage.py migrate with the package's own .venv python."""
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    commands = resolve(MigrationCommands(tool="django"), tmp_path)
    assert commands.apply[:3] == (str(python), "manage.py", "migrate")


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"tool": "command", "apply": ["make", "migrate"]}, "needs pending"),
        ({"tool": "django", "apply": ["x", "--password=env:DB_PW"]}, "secret reference"),
        ({"tool": "django", "apply": ["x", "{url}"]}, "unknown placeholder"),
        ({"tool": "rails"}, "Input should be"),
        ({"tool": "django", "project": "../manage.py"}, "inside the release package"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, object], problem: str) -> None:
    """A missing command, a secret on a command line, an unknown placeholder or tool, a
    path outside the package: refused with the reason."""
    with pytest.raises(ValidationError, match=problem):
        MigrationCommands.model_validate(settings)
