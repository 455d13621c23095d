"""turnout's own schema revisions convert the rows already stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from tests.support.postgres_server import PostgresServer
from turnout.store import Store, schema
from turnout.store.deployment_data import DeploymentData

OLD_DATA = {
    "rolled_back": True,
    "rolled_back_to": "1.0.0",
    "rolled_back_by": "ana",
    "rolled_back_at": "2026-11-30T10:15:00.123456+00:00",
    "rollback_reason": "checkout errors",
    "failure": None,
}


def _store_at(url: str, revision: str, *rows: str) -> None:
    """A store brought up to `revision` only, holding what `rows` (SQL) insert."""
    engine = schema.make_engine(url)
    try:
        cfg = schema._alembic_config()
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
        with engine.begin() as conn:
            for row in rows:
                conn.execute(text(row))
    finally:
        engine.dispose()


def _store_at_first_revision(url: str) -> None:
    """A store at revision 0001 holding one deployment rolled back later, the old way."""
    _store_at(url, "0001")
    engine = schema.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO deployments (environment, version, type, status, deployer,"
                    " emergency, changes, plan, created_at, data) VALUES ('web', '1.1.0',"
                    " 'app', 'succeeded', 'ana', false, '', '[]', :at, :data)"
                ),
                {"at": datetime(2026, 11, 30, 10, tzinfo=UTC), "data": json.dumps(OLD_DATA)},
            )
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a store written before later rollbacks had their own columns."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.url(request.getfixturevalue("pg_database"))
    _store_at_first_revision(url)
    return url


def test_a_later_rollback_moves_from_the_data_record_to_its_columns(old_store_url: str) -> None:
    """Opening an old store converts its recorded later rollback into the typed record."""
    with Store.open(Path("/nonexistent"), url=old_store_url) as store:
        row = store.deployment(1)
        assert row is not None and row.rolled_back_later is not None
        later = row.rolled_back_later
        assert (later.to, later.by, later.reason) == ("1.0.0", "ana", "checkout errors")
        assert later.at == datetime(2026, 11, 30, 10, 15, 0, 123456, tzinfo=UTC)
        assert not {"rolled_back", "rolled_back_to", "rollback_reason"} & set(row.data.other)
        assert row.data == DeploymentData()


def test_approvals_stored_before_signatures_read_as_unsigned(tmp_path: Path) -> None:
    """A store at revision 0002 with an approval upgrades; the approval has no signature."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    _store_at(
        url,
        "0002",
        "INSERT INTO deployments (environment, version, type, status, deployer, emergency,"
        " changes, plan, created_at, data) VALUES ('production', '1.1.0', 'app',"
        " 'waiting-approval', 'ana', false, '', '[]', CURRENT_TIMESTAMP, '{}')",
        "INSERT INTO approvals (deployment_id, approver, role, created_at)"
        " VALUES (1, 'sam', 'senior-engineer', CURRENT_TIMESTAMP)",
    )
    with Store.open(tmp_path, url=url) as store:
        [approval] = store.approvals(1)
    assert (approval.approver, approval.statement, approval.signature) == ("sam", None, None)
