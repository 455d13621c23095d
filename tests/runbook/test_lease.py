"""The environment's lease as deployments and `db` commands share it: a dead holder's lease
outside a deployment is taken over (audited); a live holder's is never."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runbook.steps.test_database import V001, VERIFY, AppDb, make_app_db
from tests.support.project import fake_project
from turnout.errors import LockHeld
from turnout.runbook.lease import Lease, TakeOver
from turnout.store import Store

# A process that takes the environment's lock the way a `db` command does, then dies.
_TAKE_AND_DIE = """
import sys
from pathlib import Path
from turnout.store import Store, holder_identity
store = Store.open(Path(sys.argv[1]))
store.acquire_lock("prod", None, holder_identity("killed-db-command"))
"""


@pytest.fixture
def app_db(tmp_path: Path) -> AppDb:
    """A project with a SQLite application database and a release with one good migration."""
    app = make_app_db(tmp_path / "project", "sqlite", None)
    app.write_migrations({"V001__add_rewards_table.sql": V001, "verify.sql": VERIFY})
    return app


def _store(app: AppDb) -> Store:
    return Store.open(app.loaded().state_dir)


def _leave_a_dead_holders_lock(app: AppDb) -> None:
    state_dir = str(app.loaded().state_dir)
    subprocess.run([sys.executable, "-c", _TAKE_AND_DIE, state_dir], check=True)


def test_db_migrate_takes_over_the_lease_of_a_dead_db_command(app_db: AppDb) -> None:
    """A lease left by a killed `db` command is taken over by the next migrate, audited."""
    _leave_a_dead_holders_lock(app_db)
    done = app_db.turnout("db", "migrate", "--env", "prod", "--version", "1.1.0", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["applied"] == ["1"]
    store = _store(app_db)
    assert store.lock("prod") is None  # released when the migrate ended
    take_overs = [e for e in store.audit_log("prod") if e.action == TakeOver.DEAD_HOLDER]
    assert len(take_overs) == 1
    assert str(take_overs[0].details["previous_holder"]).startswith("killed-db-command@")


def test_db_restore_refused_while_a_live_holder_has_the_lease(app_db: AppDb) -> None:
    """A live holder (this process) keeps the lease: restore exits 3 naming it, changes nothing."""
    assert app_db.turnout("db", "backup", "--env", "prod").returncode == 0
    store = _store(app_db)
    live = Lease(store, "prod", "deployer")
    live.acquire()
    try:
        done = app_db.turnout("db", "restore", "--env", "prod", "--yes")
        assert done.returncode == 3, done.stderr
        assert "deployer@" in done.stderr
        assert not any(e.action == "db.restore" for e in store.audit_log("prod"))
    finally:
        live.release()


def test_take_over_refuses_a_live_holder_unless_forced(tmp_path: Path) -> None:
    """`resume`'s take-over: a live holder is refused; forced, it is taken and audited as such."""
    store = Store.open(tmp_path)
    first = Lease(store, "prod", "alice")
    first.acquire()
    second = Lease(store, "prod", "bob")
    with pytest.raises(LockHeld, match="the holder is alive"):
        second.take_over()
    taken = second.take_over(force=True)
    assert taken is not None and taken.how is TakeOver.FORCED
    assert taken.previous.holder == first.holder
    with pytest.raises(LockHeld, match=r"taken over with --force-unlock by bob"):
        first.keep("deployment 7")


def test_rollback_takes_over_a_dead_holders_lease_and_refuses_a_live_one(tmp_path: Path) -> None:
    """`turnout rollback` shares the lease: a dead holder's is taken (audited), a live one's not."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    deployed = project.turnout("deploy", "--env", "web", "--version", "1.1.0", "--yes")
    assert deployed.returncode == 0, deployed.stderr
    state_dir = project.root / ".turnout"
    script = _TAKE_AND_DIE.replace('"prod"', '"web"')
    subprocess.run([sys.executable, "-c", script, str(state_dir)], check=True)
    store = Store.open(state_dir)
    live = Lease(store, "web", "deployer")
    back = project.turnout("rollback", "--env", "web")
    assert back.returncode == 0, back.stderr
    assert project.slots()["production"] == "1.0.0"
    assert [e.action for e in store.audit_log("web")].count(TakeOver.DEAD_HOLDER) == 1
    live.acquire()
    try:
        again = project.turnout("rollback", "--env", "web")
        assert again.returncode == 3, again.stderr
        assert "deployer@" in again.stderr
        assert project.slots()["production"] == "1.0.0"
    finally:
        live.release()
