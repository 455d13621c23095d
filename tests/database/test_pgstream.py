"""PostgreSQL archives streamed: backups verified while pg_dump writes them, restores piped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.runbook.steps.test_database import PASSWORD_VARIABLE, AppDb, make_app_db
from tests.support.postgres_server import PostgresServer
from turnout.database.checksums import file_sha256
from turnout.database.driver import DatabaseError
from turnout.database.pgstream import stream_dump
from turnout.database.postgresql import PostgresDriver, pg_program

READER = [pg_program("pg_restore"), "--data-only", "--file=-"]


@pytest.fixture
def app(postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppDb:
    """A project whose app database is on the session's PostgreSQL server."""
    monkeypatch.setenv(PASSWORD_VARIABLE, postgres.password)
    return make_app_db(tmp_path / "p", "postgresql", postgres)


def test_streamed_backup_is_a_complete_archive(postgres: PostgresServer, app: AppDb) -> None:
    """The recorded sha256 and row counts are the file's; it is 0600 and restores in parallel."""
    app.execute("INSERT INTO orders SELECT g, g % 3, g FROM generate_series(10, 20009) g")
    with app.service() as svc:
        record = svc.backup(None)
    path = Path(record.location)
    assert record.status == "verified" and record.checksum == file_sha256(path)
    assert record.size == path.stat().st_size
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert record.details["row_counts"] == {
        "audit.events": 2,
        "public.orders": 20003,
        "public.users": 3,
    }
    # Written from a pipe, the archive has no data offsets; pg_restore -j must still read it.
    copy = postgres.create_database("copy_of_" + app.dbname)
    env = {**os.environ, "PGPASSWORD": postgres.password}
    conn = ["-h", postgres.host, "-p", str(postgres.port), "-U", postgres.user]
    subprocess.run(
        [pg_program("pg_restore"), "--jobs=2", "-d", copy, *conn, str(path)], env=env, check=True
    )
    count = subprocess.run(
        [pg_program("psql"), "-tA", "-d", copy, *conn, "-c", "SELECT count(*) FROM orders"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert count.stdout.strip() == "20003"


@pytest.mark.timeout(60)
def test_unreadable_stream_stops_the_dump_at_once(tmp_path: Path) -> None:
    """When pg_restore cannot read the stream, the endless dump is stopped and nothing is kept."""
    dest = tmp_path / "x.dump"
    with pytest.raises(DatabaseError, match="cannot be read by pg_restore"):
        stream_dump(["cat", "/dev/zero"], READER, dest, dict(os.environ), "db")
    assert not dest.exists()


def test_failing_dump_names_its_error(tmp_path: Path) -> None:
    """A pg_dump that fails is reported with its own message, not the reader's."""
    dest = tmp_path / "x.dump"
    dump = [sys.executable, "-c", "import sys; sys.stderr.write('no such table'); sys.exit(1)"]
    with pytest.raises(DatabaseError, match="pg_dump of db failed: no such table"):
        stream_dump(dump, READER, dest, dict(os.environ), "db")
    assert not dest.exists()


def test_restore_commits_nothing_when_pg_restore_fails_midway(app: AppDb, tmp_path: Path) -> None:
    """An archive cut in the middle of a table's data (checksum matching) leaves the data as is."""
    app.execute("INSERT INTO orders SELECT g, g % 3, g FROM generate_series(10, 200009) g")
    with app.service() as svc:
        whole = Path(svc.backup(None).location).read_bytes()
        app.execute("DELETE FROM orders WHERE id > 100", "INSERT INTO users VALUES (9, 'new', '')")
        before = app.full_dump()
        cut = tmp_path / "cut.dump"
        cut.write_bytes(whole[: len(whole) * 2 // 3])
        assert isinstance(svc.driver, PostgresDriver)
        with pytest.raises(DatabaseError, match="pg_restore failed \\(nothing was changed\\)"):
            svc.driver.restore(cut, file_sha256(cut), None)
    assert app.full_dump() == before


def test_restore_killed_midway_commits_nothing(postgres: PostgresServer, app: AppDb) -> None:
    """`db restore` killed while psql loads the archive leaves the data as is (no verdict)."""
    app.execute("INSERT INTO orders SELECT g, g % 3, g FROM generate_series(10, 400009) g")
    made = app.turnout("db", "backup", "--env", "prod", "--json")
    assert made.returncode == 0, made.stderr
    app.execute("DELETE FROM orders WHERE id > 100", "INSERT INTO users VALUES (9, 'new', '')")
    before = app.full_dump()
    command = ["db", "restore", "--env", "prod", "--yes", "--config", str(app.config_path)]
    restore = subprocess.Popen(
        [sys.executable, "-m", "turnout", *command],
        env=app.environ(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with psycopg.connect(postgres.dsn(app.dbname), autocommit=True) as conn:

        def loading() -> int:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'psql' AND datname = current_database()"
            ).fetchone()
            return int(row[0]) if row else 0

        deadline = time.monotonic() + 30
        while not loading() and restore.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert restore.poll() is None, "the restore ended before it could be killed"
        restore.send_signal(signal.SIGKILL)
        restore.wait()
        # The orphaned psql reads the rest of the script, finds no verdict and rolls back.
        deadline = time.monotonic() + 60
        while loading() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not loading()
    assert app.full_dump() == before


@pytest.mark.parametrize("track_counts", ["on", "off"])
def test_restore_counts_rows_inside_its_transaction(app: AppDb, track_counts: str) -> None:
    """Restored row counts come from the restore's transaction (statistics or count(*));
    counts that differ from the backup's roll everything back."""
    app.execute(
        "INSERT INTO orders SELECT g, g % 3, g FROM generate_series(10, 5009) g",
        f"ALTER DATABASE {app.dbname} SET track_counts = {track_counts}",
    )
    with app.service() as svc:
        backup = svc.backup(None)
        recorded = backup.details["row_counts"]
        app.execute("DELETE FROM orders WHERE id > 100")
        before = app.full_dump()
        path = Path(backup.location)
        assert isinstance(svc.driver, PostgresDriver)
        wrong = {**recorded, "public.orders": recorded["public.orders"] + 1}
        with pytest.raises(DatabaseError, match=r"restored row counts .* differ from the backup"):
            svc.driver.restore(path, backup.checksum, wrong)
        assert app.full_dump() == before
        assert svc.driver.restore(path, backup.checksum, recorded) == recorded
        assert recorded["public.orders"] > 5000


def test_restore_with_large_objects_stays_one_transaction(
    postgres: PostgresServer, app: AppDb
) -> None:
    """Large objects (whose data pg_restore wraps in its own BEGIN/COMMIT) are restored, and a
    restore that fails at its end still changes nothing."""
    app.execute(
        "CREATE TABLE docs (id int PRIMARY KEY, body oid)",
        "INSERT INTO docs VALUES (1, lo_from_bytea(0, 'first draft'))",
    )
    with app.service() as svc:
        backup = svc.backup(None)
        path = Path(backup.location)
        recorded = backup.details["row_counts"]
        app.execute(
            "SELECT lo_put(body, 0, 'FINAL') FROM docs",
            "INSERT INTO docs VALUES (2, lo_from_bytea(0, 'later'))",
        )
        changed = app.full_dump()
        assert isinstance(svc.driver, PostgresDriver)
        wrong = {**recorded, "public.docs": 5}
        with pytest.raises(DatabaseError, match="differ from the backup"):
            svc.driver.restore(path, backup.checksum, wrong)
        assert app.full_dump() == changed
        assert svc.driver.restore(path, backup.checksum, recorded) == recorded
    with psycopg.connect(postgres.dsn(app.dbname)) as conn:
        rows = conn.execute("SELECT id, convert_from(lo_get(body), 'UTF8') FROM docs").fetchall()
        objects = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
    assert rows == [(1, "first draft")]
    assert objects == (1,)


def _restore_round_trip(
    app: AppDb, before_backup: list[str], after_backup: list[str]
) -> tuple[list[str], list[str]]:
    """Full dumps of the app database at the backup and after restoring it."""
    app.execute(*before_backup)
    at_backup = app.full_dump()
    with app.service() as svc:
        backup = svc.backup(None)
        app.execute(*after_backup)
        assert app.full_dump() != at_backup
        svc.restore(backup.id, reason="test")
    return at_backup, app.full_dump()


def test_restore_brings_back_public_schema_grants_and_publications(app: AppDb) -> None:
    """Grants and comment on `public` and publications changed after the backup are restored
    (they live outside the dropped schemas)."""
    role = "reader_" + os.urandom(4).hex()
    at_backup, restored = _restore_round_trip(
        app,
        [f"CREATE ROLE {role}", "CREATE PUBLICATION kept FOR ALL TABLES"],
        [
            "REVOKE USAGE ON SCHEMA public FROM PUBLIC",
            f"GRANT CREATE ON SCHEMA public TO {role}",
            "COMMENT ON SCHEMA public IS 'changed by a migration'",
            "DROP PUBLICATION kept",
            "CREATE PUBLICATION added FOR ALL TABLES",
        ],
    )
    assert restored == at_backup


def test_restore_handles_dollar_names_and_inheritance(app: AppDb) -> None:
    """A table named with `$$` and an inheritance parent (counted without its children's
    rows, as pg_dump copies them) back up and restore."""
    at_backup, restored = _restore_round_trip(
        app,
        [
            'CREATE TABLE "a$$b" (x int)',
            'INSERT INTO "a$$b" VALUES (1), (2)',
            "CREATE TABLE parent (x int)",
            "CREATE TABLE child () INHERITS (parent)",
            "INSERT INTO parent VALUES (1)",
            "INSERT INTO child VALUES (2), (3)",
        ],
        ['DELETE FROM "a$$b"', "DELETE FROM child"],
    )
    assert restored == at_backup


def test_logical_dump_covers_large_objects(app: AppDb) -> None:
    """The pre-migration comparison sees a large object changed, and the restore brings it back."""
    app.execute(
        "CREATE TABLE docs (id int PRIMARY KEY, body oid)",
        "INSERT INTO docs VALUES (1, lo_from_bytea(0, 'first draft'))",
    )
    with app.service() as svc:
        before = svc.driver.logical_dump()
        backup = svc.backup(None)
        app.execute("SELECT lo_put(body, 0, 'FINAL') FROM docs")
        changed = svc.driver.logical_dump()
        assert changed.digest != before.digest
        assert any("pg_catalog.pg_largeobject" in line for line in changed.differences(before))
        svc.restore(backup.id, reason="test", expected=before)
        assert svc.driver.logical_dump().digest == before.digest


class _SchemaCreatedWhilePreparing(PostgresDriver):
    """A driver whose restore sees a schema created right after it prepared its SQL."""

    def __init__(self, driver: PostgresDriver, app: AppDb) -> None:
        super().__init__(driver.location)
        self.app = app

    def restore_preamble(self) -> str:
        """The usual SQL; then someone creates a schema before the transaction starts."""
        text = super().restore_preamble()
        self.app.execute("CREATE SCHEMA late", "CREATE TABLE late.t (x int)")
        return text


def test_schema_created_while_the_restore_prepares_is_dropped(app: AppDb) -> None:
    """The schemas to drop are listed inside the restore's transaction, not before it."""
    at_backup = app.full_dump()
    with app.service() as svc:
        backup = svc.backup(None)
        assert isinstance(svc.driver, PostgresDriver)
        late = _SchemaCreatedWhilePreparing(svc.driver, app)
        late.restore(Path(backup.location), backup.checksum, backup.details["row_counts"])
    assert app.full_dump() == at_backup


class _CommitCutter:
    """A TCP proxy to the server that drops the restore's connection (the one that counted
    `turnout_rows`) when it sends COMMIT, so the server never receives the commit."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        counted = False
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                counted = counted or (from_client and b"turnout_rows" in data)
                if counted and b"COMMIT" in data:
                    self.cut.set()
                    break
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


def test_connection_lost_at_commit_is_reported_as_unknown(
    postgres: PostgresServer, app: AppDb
) -> None:
    """A restore whose connection ends while committing says the outcome is unknown instead of
    claiming nothing changed."""
    with app.service() as svc:
        backup = svc.backup(None)
    app.execute("DELETE FROM orders")
    before = app.full_dump()
    cutter = _CommitCutter((postgres.host, postgres.port))
    text = app.config_path.read_text()
    app.config_path.write_text(text.replace(f":{postgres.port}/", f":{cutter.port}/"))
    try:
        with app.service() as svc, pytest.raises(DatabaseError) as failure:
            assert isinstance(svc.driver, PostgresDriver)
            svc.driver.restore(Path(backup.location), backup.checksum, None)
    finally:
        cutter.listener.close()
    assert cutter.cut.is_set()
    message = str(failure.value)
    assert "while committing" in message and "unknown" in message
    assert "nothing was changed" not in message
    # The server never saw the COMMIT: it rolled the restore back.
    assert app.full_dump() == before
