"""Shared fixtures: a real PostgreSQL server for the run, temporary state stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres_server import PostgresServer, start_postgres
from tests.support.venv_package import build_venv_package
from turnout.store import Store


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole test session."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_database(postgres: PostgresServer) -> str:
    """A fresh, empty database on the session's server; its name."""
    return postgres.create_database("t_" + uuid.uuid4().hex[:12])


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A state store in a temporary SQLite file."""
    store = Store.open(tmp_path / ".turnout")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def pg_store(postgres: PostgresServer, pg_database: str) -> Iterator[Store]:
    """A state store in a fresh PostgreSQL database."""
    store = Store.open(Path("/nonexistent"), url=postgres.url(pg_database))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The state store on each supported database."""
    if request.param == "sqlite":
        store = Store.open(tmp_path / ".turnout")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        name = server.create_database("t_" + uuid.uuid4().hex[:12])
        store = Store.open(Path("/nonexistent"), url=server.url(name))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="session")
def venv_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory package holding a real virtual environment with a console script.

    Built once per test run, here so that every module shares it (it takes seconds);
    tests copy it before changing it."""
    return build_venv_package(tmp_path_factory.mktemp("venv"))
