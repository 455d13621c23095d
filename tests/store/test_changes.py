"""Reading the store for a page: read-only transactions that refuse writes and take no lock
against a writer, and a change mark that moves with each journal transition."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from turnout.model import DeploymentStatus, DeploymentType
from turnout.store import Store
from turnout.store.changes import change_mark, open_read_only
from turnout.store.records import NewDeployment
from turnout.store.schema import make_engine
from turnout.store.sql import CoreDatabase, SqliteDatabase


@pytest.fixture(params=["sqlite", "postgresql"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """A writable store and a read-only one on the same database."""
    if request.param == "sqlite":
        writer = Store.open(tmp_path / ".turnout")
        reader = open_read_only(tmp_path / ".turnout")
    else:
        server = request.getfixturevalue("postgres")
        url = server.url(request.getfixturevalue("pg_database"))
        writer = Store.open(Path("/nonexistent"), url=url)
        reader = Store(CoreDatabase(make_engine(url), read_only=True))
    try:
        yield writer, reader
    finally:
        reader.close()
        writer.close()


def _deployment(store: Store) -> int:
    row = store.create_deployment(
        NewDeployment(
            environment="web",
            version="1.0.0",
            type=DeploymentType.APP,
            status=DeploymentStatus.RUNNING,
            deployer="ann",
        )
    )
    store.write_plan(row.id, ["stage", "swap"])
    return row.id


def test_the_mark_moves_with_each_transition_and_only_then(pair: tuple[Store, Store]) -> None:
    """A new deployment, a step starting and a step ending each change the mark; reading
    again without a change gives the same mark."""
    writer, reader = pair
    empty = change_mark(reader)
    assert change_mark(reader) == empty
    number = _deployment(writer)
    planned = change_mark(reader)
    assert planned != empty
    writer.record_step(number, "stage", "running")
    running = change_mark(reader)
    writer.record_step(number, "stage", "succeeded", outputs={"summary": "done"})
    assert len({planned, running, change_mark(reader)}) == 3
    assert reader.steps(number)[0].outputs == {"summary": "done"}


def test_the_read_only_store_refuses_writes(pair: tuple[Store, Store]) -> None:
    """A write through the read-only store fails in the database; nothing is written."""
    writer, reader = pair
    with pytest.raises(Exception, match=r"(?i)read.?only"):
        _deployment(reader)
    assert writer.deployments() == []


def test_a_sqlite_reader_takes_no_lock_against_a_writer(tmp_path: Path) -> None:
    """While a read transaction is open, another process's write transaction commits."""
    writer = Store.open(tmp_path / ".turnout")
    reader = open_read_only(tmp_path / ".turnout")
    try:
        assert isinstance(reader.db, SqliteDatabase) and reader.db.read_only
        with reader.db.transaction() as tx:
            tx.rows("SELECT COUNT(*) AS n FROM deployments")
            other = sqlite3.connect(tmp_path / ".turnout" / "state.db", timeout=0.5)
            other.execute("BEGIN IMMEDIATE")
            other.execute("DELETE FROM kv")
            other.execute("COMMIT")
            other.close()
    finally:
        reader.close()
        writer.close()
