"""Azure SQL database settings: defaults, and bad values refused naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.in_process import turnout_in_process
from turnout.config import load_config
from turnout.database.azure_sql_place import place_of
from turnout.database.location import locate
from turnout.errors import ConfigError

AZURE = (
    '[app]\nname = "x"\n[environments.production.target]\nkind = "azure"\n'
    'subscription = "env:AZURE_SUBSCRIPTION_ID"\nresource_group = "tesoro-production-rg"\n'
    'app = "x-app"\n[environments.production.database]\n'
)
LOCAL = '[app]\nname = "x"\n[environments.production.target]\nkind = "fake"\n'
LOCAL += "[environments.production.database]\n"
URL = 'url = "mssql://tesoro-production-sql.database.windows.net/tesoro-production-db"\n'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "turnout.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("lines", "key", "words"),
    [
        (
            URL + '[environments.production.database.azure_sql]\nbackup = "bacpac"\n',
            "database.azure_sql",
            "storage_account_url",
        ),
        (
            URL + '[environments.production.database.azure_sql]\nbackup = "bacpac"\n'
            'storage_account_url = "https://st.blob.core.windows.net"\n',
            "database.azure_sql",
            "storage_key",
        ),
        (
            URL + '[environments.production.database.azure_sql]\nbackup = "tape"\n',
            "database.azure_sql.backup",
            "pitr",
        ),
        (
            URL + '[environments.production.database.azure_sql]\nauth = "kerberos"\n',
            "database.azure_sql.auth",
            "entra",
        ),
        (
            URL + '[environments.production.database.azure_sql]\ncontainer = "Backups!"\n',
            "database.azure_sql.container",
            "container name",
        ),
        (
            'url = "sqlite:///app.db"\n[environments.production.database.azure_sql]\n',
            "database",
            "mssql://",
        ),
        (
            URL + '[environments.production.database.azure_sql]\nbackup = "bacpac"\n'
            'storage_account_url = "https://st.blob.core.windows.net"\n'
            'storage_key = "env:ST_KEY"\n',
            "database",
            "azure_sql.export_login",
        ),
        (
            URL.replace("mssql://", "mssql://sqladmin@")
            + '[environments.production.database.azure_sql]\nbackup = "bacpac"\n'
            'storage_account_url = "https://st.blob.core.windows.net"\n'
            'storage_key = "env:ST_KEY"\n',
            "database",
            "azure_sql.export_password",
        ),
        ('url = "mssql://server.database.windows.net/a/b"\n', "database.url", "one database"),
        ('url = "mssql://server.database.windows.net/"\n', "database.url", "database name"),
    ],
)
def test_bad_setting_names_its_key(tmp_path: Path, lines: str, key: str, words: str) -> None:
    """Each invalid Azure SQL setting is a ConfigError naming the environment's key."""
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, AZURE + lines))
    text = str(caught.value)
    assert f"environments.production.{key}" in text
    assert words in text


def test_check_reports_a_bad_backup_mode_with_exit_2(tmp_path: Path) -> None:
    """`turnout check` prints one line naming file and key for a bad backup mode, exit 2."""
    path = _write(
        tmp_path, AZURE + URL + '[environments.production.database.azure_sql]\nbackup = "x"\n'
    )
    result = turnout_in_process(["check", "--config", str(path)], cwd=tmp_path, env={})
    assert result.returncode == 2, result.stderr
    assert "turnout.toml" in result.stderr
    assert "environments.production.database.azure_sql.backup" in result.stderr
    assert "Traceback" not in result.stderr


def test_management_plane_comes_from_the_azure_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subscription, resource group and endpoint are the target's; the server is the host's
    first label; sign-in defaults to Entra and the backup to point-in-time restore."""
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "sub-1")
    config = load_config(
        _write(
            tmp_path,
            AZURE + 'url = "mssql://tesoro-production-sql'
            '.database.windows.net/tesoro-production-db"\n',
        )
    )
    location = locate(config, config.env("production"))
    place = place_of(location)
    assert (place.subscription, place.resource_group, place.server, place.database) == (
        "sub-1",
        "tesoro-production-rg",
        "tesoro-production-sql",
        "tesoro-production-db",
    )
    assert place.management_endpoint == "https://management.azure.com"
    assert location.azure_sql is not None
    assert (location.azure_sql.auth, location.azure_sql.backup) == ("entra", "pitr")
    assert location.describe() == (
        "mssql://tesoro-production-sql.database.windows.net:1433/tesoro-production-db"
    )


def test_without_an_azure_target_the_resource_group_must_be_given(tmp_path: Path) -> None:
    """On another target, a missing resource group is a ConfigError naming azure_sql's key."""
    config = load_config(
        _write(
            tmp_path,
            LOCAL
            + URL
            + ('[environments.production.database.azure_sql]\nsubscription = "sub-1"\n'),
        )
    )
    with pytest.raises(ConfigError) as caught:
        place_of(locate(config, config.env("production")))
    assert "environments.production.database.azure_sql.resource_group" in str(caught.value)


def test_unknown_url_option_is_refused(tmp_path: Path) -> None:
    """An mssql URL option other than trust_server_certificate is refused naming the url."""
    config = load_config(
        _write(tmp_path, AZURE + ('url = "mssql://server.database.windows.net/db?encrypt=no"\n'))
    )
    with pytest.raises(ConfigError) as caught:
        locate(config, config.env("production"))
    assert "environments.production.database.url" in str(caught.value)
