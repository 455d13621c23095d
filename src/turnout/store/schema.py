"""Open turnout's state database and bring its schema up to date with Alembic."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.errors import BadInput
from turnout.store.sql import CoreDatabase, Database, SqliteDatabase
from turnout.user_cache import cache_folder

# SQLAlchemy and Alembic are imported only for a database other than a SQLite file, or to
# upgrade: reading a SQLite store already at the head revision (every command after the
# first) starts without their import time.
if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Engine

STATE_URL_VARIABLE = "TURNOUT_STATE_URL"
_SQLITE_FILE = "sqlite:///"
SCRIPTS = Path(__file__).parent / "alembic"


def state_url(state_dir: Path) -> str:
    """`TURNOUT_STATE_URL` when set, else the SQLite file `.turnout/state.db`."""
    url = os.environ.get(STATE_URL_VARIABLE)
    if url:
        return url
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = state_dir / "state.db"
    # Owner-only from the first byte; SQLite gives its -wal and -shm files the same mode.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return f"sqlite:///{path}"


def state_exists(state_dir: Path) -> bool:
    """Whether the store is elsewhere (`TURNOUT_STATE_URL`) or its SQLite file exists."""
    return bool(os.environ.get(STATE_URL_VARIABLE)) or (state_dir / "state.db").exists()


def make_engine(url: str) -> Engine:
    """An engine tuned for turnout: SQLite in WAL mode with immediate write transactions."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    try:
        if url.startswith("sqlite"):
            # A small pool: reopening the file (and its PRAGMAs) per transaction costs more
            # than the transaction itself.
            engine = create_engine(url, connect_args={"timeout": 60}, pool_size=2)
            _configure_sqlite(engine)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise BadInput(f"{STATE_URL_VARIABLE}: cannot use state database URL: {exc}") from None


def _configure_sqlite(engine: Engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a killed process (the crash model we promise);
        # it may lose the last commits on power loss.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so concurrent processes queue
        # on busy_timeout instead of failing with "database is locked" mid-transaction.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    return cfg


_REVISION = re.compile(r"^revision(?:: str)? = [\"']([^\"']+)[\"']$", re.M)
_DOWN_REVISION = re.compile(r"^down_revision(?:: [^=]+)? = (?:None|[\"']([^\"']+)[\"'])$", re.M)


def _head_from_files() -> str | None:
    """The head revision read from the revision files' own `revision`/`down_revision` lines;
    None when they do not give exactly one head (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (SCRIPTS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            continue
        revisions.add(revision.group(1))
        if down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def head_revision() -> str:
    """The newest revision of turnout's schema."""
    found = _head_from_files()
    if found is not None:
        return found
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def open_database(url: str) -> Database:
    """The database behind a state URL: a SQLite file through `sqlite3`, anything else
    through SQLAlchemy Core."""
    if url == "sqlite://":
        return SqliteDatabase(None)
    if url.startswith(_SQLITE_FILE) and "?" not in url:
        return SqliteDatabase(url[len(_SQLITE_FILE) :])
    return CoreDatabase(make_engine(url))


def _current_revision(db: Database) -> str | None:
    exists = (
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        if db.dialect == "sqlite"
        else "SELECT to_regclass('alembic_version') AS name"
    )
    with db.transaction() as tx:
        found = tx.one(exists)
        if found is None or found["name"] is None:
            return None
        row = tx.one("SELECT version_num FROM alembic_version")
    return None if row is None else str(row["version_num"])


@contextmanager
def _upgrade_lock(engine: Engine, url: str) -> Iterator[None]:
    """Serialise schema upgrades between processes that open the store at once."""
    if url.startswith("sqlite") and engine.url.database:
        lock_path = Path(engine.url.database + ".upgrade-lock")
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif engine.dialect.name == "postgresql":
        from sqlalchemy import text

        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(74206)"))
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(74206)"))
                conn.commit()
    else:
        yield


def upgrade(db: Database) -> None:
    """Bring the schema to the head revision (cheap when it is already there: no SQLAlchemy,
    no Alembic)."""
    head = head_revision()
    if _current_revision(db) == head:
        return
    engine = _migration_engine(db)
    try:
        with _upgrade_lock(engine, db.url):
            if _current_revision(db) == head:
                return
            from alembic import command

            cfg = _alembic_config()
            with engine.connect() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
    finally:
        if isinstance(db, SqliteDatabase) and db.path is not None:
            engine.dispose()


def _migration_engine(db: Database) -> Engine:
    """A SQLAlchemy engine on the same database, for Alembic."""
    if isinstance(db, CoreDatabase):
        return db.engine
    assert isinstance(db, SqliteDatabase)
    if db.path is not None:
        return make_engine(db.url)
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    # The schema goes into the one in-memory connection the store itself uses.
    shared = db.connection()
    engine = create_engine("sqlite://", creator=lambda: shared, poolclass=StaticPool)
    db.keep(engine)
    return engine


def empty_database() -> SqliteDatabase:
    """An empty store in memory at the head revision, for reading a project that has none.

    Alembic builds the empty schema once per head revision; a copy is remembered in the
    user's cache (`empty-state-<revision>.db`, always safe to delete), so later reads of a
    project without a store start without SQLAlchemy and Alembic too.
    """
    head = head_revision()
    template = cache_folder() / f"empty-state-{head}.db"
    if template.is_file():
        database = SqliteDatabase(None)
        try:
            with contextlib.closing(sqlite3.connect(template)) as source:
                source.backup(database.connection())
            if _current_revision(database) == head:
                return database
        except sqlite3.Error:
            pass  # an unreadable copy is rebuilt below
        database.close()
    database = SqliteDatabase(None)
    upgrade(database)
    with contextlib.suppress(OSError, sqlite3.Error):
        template.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a reader never sees half a copy.
        partial = template.with_name(f"{template.name}.{os.getpid()}.partial")
        with contextlib.closing(sqlite3.connect(partial)) as copy:
            database.connection().backup(copy)
        partial.replace(template)
    return database
