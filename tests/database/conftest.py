"""Fixtures of the Azure SQL backup and restore tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.database.azure_sql_setup import BEFORE, DB, SERVER, SqlProject
from tests.fakes.azure_sql import FakeAzureSql
from tests.fakes.azure_world import running_azure
from tests.support.azurite import Azurite, running_azurite
from turnout.store import Store


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One real Azurite blob service for the test run."""
    with running_azurite(tmp_path_factory.mktemp("azurite")) as running:
        yield running


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite: Azurite
) -> Iterator[SqlProject]:
    """A project whose production database is on the fake server (10 days old, 7 days of
    point-in-time restore), the fake Azure's environment applied to this process."""
    with running_azure(tmp_path / "azure") as world:
        for name, value in world.apply().items():
            if os.environ.get(name) != value:
                monkeypatch.setenv(name, value)
        monkeypatch.setenv("TESORO_SQL_PASSWORD", "s3cret-Sql-pw")
        monkeypatch.setenv("TESORO_STORAGE_KEY", azurite.key)
        sql = FakeAzureSql(world.server, SERVER)
        sql.retry_after = None  # the project's poll_interval (0.1 s) paces the SDK's looks
        sql.operation_seconds = 0.1
        sql.add_database(DB, BEFORE)
        root = tmp_path / "project"
        root.mkdir()
        store = Store.open(root / ".turnout")
        try:
            yield SqlProject(root, world, sql, store)
        finally:
            store.close()
