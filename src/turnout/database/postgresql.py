"""PostgreSQL: sessions (psycopg), pg_dump custom-format backups, atomic restore, logical dumps.

The password never appears in a command line: subprocesses get a private
password file through PGPASSFILE, deleted when they end; the connection
details travel in PGHOST/PGPORT/PGUSER/PGDATABASE.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from turnout.childenv import child_environment
from turnout.database.driver import BackupFile, DatabaseError, StatementError
from turnout.database.dump import LogicalDump, TableDigest
from turnout.database.leftovers import PG_CLIENT_PREFIX, RESTORE_PREFIX, private_folder
from turnout.database.location import DatabaseLocation
from turnout.database.pgrestore import commit_check, restore_archive
from turnout.database.pgstream import count_copy_rows, read_text, stream_dump
from turnout.database.sqlsplit import Dialect

# The name large objects go by in a logical dump (the catalog that holds their data).
_LARGE_OBJECTS = "pg_catalog.pg_largeobject"

_SYSTEM = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
)
_TABLES = f"""
SELECT format('%I.%I', n.nspname, c.relname), c.oid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND {_SYSTEM}
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""


_PASSED_PG_VARIABLES = ("PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY", "PGAPPNAME")


def pg_program(name: str) -> str:
    """Path of a PostgreSQL client program: the newest installed version, else PATH."""
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_of, reverse=True):
        candidate = folder / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise DatabaseError(
            f"PostgreSQL client program {name} not found (install postgresql-client)"
        )
    return found


def _version_of(folder: Path) -> float:
    try:
        return float(folder.parent.name)
    except ValueError:
        return 0.0


def _passfile_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _message(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return str(primary or exc).strip()


class PostgresSession:
    """A psycopg connection in autocommit mode; transactions are explicit."""

    dialect: Dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    @staticmethod
    def _sql(sql: str, params: Sequence[Any]) -> str:
        # Our own queries use `?` placeholders; psycopg wants %s (and literal % doubled).
        return sql.replace("%", "%%").replace("?", "%s") if params else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            # Without parameters the text goes to the server untouched (no % processing).
            self.conn.execute(self._sql(sql, params), tuple(params) if params else None)
        except psycopg.Error as exc:
            raise StatementError(_message(exc)) from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            cur = self.conn.execute(self._sql(sql, params), tuple(params) if params else None)
            if cur.description is None:
                return []  # a statement without a result set
            return [tuple(r) for r in cur.fetchall()]
        except psycopg.Error as exc:
            raise StatementError(_message(exc)) from exc

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[None]:
        try:
            with self.conn.transaction():
                if read_only:
                    self.conn.execute("SET TRANSACTION READ ONLY")
                yield
        except psycopg.OperationalError as exc:
            raise DatabaseError(f"transaction failed: {_message(exc)}") from exc

    def table_exists(self, name: str, schema: str | None = None) -> bool:
        if schema is None:
            rows = self.query("SELECT to_regclass(format('%I', ?::text)) IS NOT NULL", (name,))
        else:
            rows = self.query(
                "SELECT to_regclass(format('%I.%I', ?::text, ?::text)) IS NOT NULL",
                (schema, name),
            )
        return bool(rows[0][0])

    def row_counts(self) -> dict[str, int]:
        try:
            return _counts(self.conn)
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot count rows: {_message(exc)}") from exc

    def close(self) -> None:
        self.conn.close()


def _counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    names = [str(r[0]) for r in conn.execute(_TABLES).fetchall()]
    out: dict[str, int] = {}
    for name in names:
        # ONLY: an inheritance parent's own rows, as pg_dump's COPY holds them.
        row = conn.execute(f"SELECT count(*) FROM ONLY {name}").fetchone()
        out[name] = int(row[0]) if row else 0
    return out


class PostgresDriver:
    """A PostgreSQL database reached over TCP with a password from a secret reference."""

    dialect: Dialect = "postgresql"
    suffix = ".dump"

    def __init__(self, location: DatabaseLocation) -> None:
        self.location = location

    # -- connections --------------------------------------------------------------------
    def _connect(self, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        loc = self.location
        try:
            return psycopg.connect(
                host=loc.host,
                port=loc.port,
                user=loc.user or None,
                dbname=loc.dbname,
                password=loc.password(),
                connect_timeout=max(1, int(loc.timeout)),
                autocommit=autocommit,
            )
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot connect to {loc.describe()}: {_message(exc)}") from exc

    def exists(self) -> bool:
        try:
            self._connect().close()
        except DatabaseError:
            return False
        return True

    def connect(self, *, create: bool = False) -> PostgresSession:
        return PostgresSession(self._connect())

    @contextmanager
    def client_environment(self) -> Iterator[dict[str, str]]:
        """Environment for pg_dump/pg_restore/psql: connection details and a private passfile."""
        loc = self.location
        # The deployer's tokens and TURNOUT_STATE_URL stay out; TLS settings pass through.
        env = child_environment(passed=_PASSED_PG_VARIABLES)
        env.update(
            PGHOST=loc.host,
            PGPORT=str(loc.port),
            PGDATABASE=loc.dbname,
            PGCONNECT_TIMEOUT=str(max(1, int(loc.timeout))),
        )
        if loc.user:
            env["PGUSER"] = loc.user
        password = loc.password()
        # The client programs need no copy of the secret's own variable.
        env = {k: v for k, v in env.items() if password is None or v != password}
        # Named after this process: if it is killed, the next run removes the folder.
        folder = private_folder(PG_CLIENT_PREFIX)
        try:
            if password is not None:
                passfile = folder / "pgpass"
                fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(f"*:*:*:*:{_passfile_escape(password)}\n")
                env["PGPASSFILE"] = str(passfile)
            yield env
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # -- backup -------------------------------------------------------------------------
    def dump_command(self, snapshot: str | None = None) -> list[str]:
        """The pg_dump command line (archive on stdout; no connection details, no password)."""
        cmd = [pg_program("pg_dump"), "--format=custom", "--no-password"]
        if snapshot:
            cmd.append(f"--snapshot={snapshot}")
        return cmd

    def backup(self, dest: Path) -> BackupFile:
        started = time.perf_counter()
        conn = self._connect(autocommit=False)
        try:
            # pg_dump and our row counts share one exported snapshot: they see the same data.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            snapshot = str(row[0]) if row else None
            with self.client_environment() as env, ThreadPoolExecutor(max_workers=1) as pool:
                source_counts = pool.submit(_counts, conn)
                try:
                    # The archive is read back by pg_restore as pg_dump writes it.
                    streamed = stream_dump(
                        self.dump_command(snapshot),
                        [pg_program("pg_restore"), "--data-only", "--file=-"],
                        dest,
                        env,
                        self.location.describe(),
                    )
                finally:
                    counts = source_counts.result()
            conn.rollback()
        except psycopg.Error as exc:
            dest.unlink(missing_ok=True)
            raise DatabaseError(
                f"backup of {self.location.describe()} failed: {_message(exc)}"
            ) from exc
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        finally:
            conn.close()
        return BackupFile(
            dest,
            streamed.size,
            streamed.sha256,
            counts,
            time.perf_counter() - started,
            archive_counts=streamed.archive_counts,
        )

    def check_opens(self, path: Path) -> None:
        # The archive's data was read back while it was written; its table of contents
        # is read again from the file itself.
        self._pg_restore_check(path, "--list")

    def backup_row_counts(self, path: Path) -> dict[str, int]:
        # Reading every table's data through pg_restore proves the archive opens and decodes.
        with self.client_environment() as env:
            proc = subprocess.Popen(
                [pg_program("pg_restore"), "--data-only", "--file=-", str(path)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert proc.stdout is not None
            errors: list[str] = []
            reader = threading.Thread(target=lambda: errors.append(read_text(proc.stderr)))
            reader.start()
            try:
                counts = count_copy_rows(proc.stdout)
            finally:
                proc.stdout.close()
                proc.wait()
                reader.join()
        if proc.returncode != 0:
            message = "".join(errors)
            raise DatabaseError(f"{path}: backup cannot be read by pg_restore: {message}")
        return counts

    def _pg_restore_check(self, path: Path, *options: str) -> None:
        with self.client_environment() as env:
            done = subprocess.run(
                [pg_program("pg_restore"), *options, str(path)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                check=False,
            )
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()
            raise DatabaseError(f"{path}: backup cannot be read by pg_restore: {message}")

    # -- restore ------------------------------------------------------------------------
    def restore_preamble(self) -> str:
        """SQL that empties the database: user schemas, large objects and publications
        dropped, `public` recreated as the archive expects to find it."""
        lines = [
            f"SET lock_timeout = '{max(1, int(self.location.timeout))}s';",
            "SET client_min_messages = warning;",
            # Listed inside the restore's transaction (psql runs the statement the query
            # writes), so a schema created while turnout prepared the restore goes too.
            "SELECT 'DROP SCHEMA IF EXISTS '"
            " || string_agg(quote_ident(n.nspname), ', ' ORDER BY n.nspname) || ' CASCADE'"
            f" FROM pg_namespace n WHERE {_SYSTEM} AND NOT EXISTS (SELECT 1 FROM pg_depend d"
            " WHERE d.objid = n.oid AND d.deptype = 'e') HAVING count(*) > 0 \\gexec",
            # Large objects live outside schemas; the archive recreates the ones it holds.
            "SELECT count(pg_catalog.lo_unlink(oid)) FROM pg_catalog.pg_largeobject_metadata;",
            # Publications live outside schemas too; the archive recreates its own.
            "SELECT 'DROP PUBLICATION IF EXISTS ' || string_agg(quote_ident(pubname), ', ')"
            " FROM pg_publication HAVING count(*) > 0 \\gexec",
        ]
        return "\n".join(lines + self._public_schema()) + "\n"

    def _public_schema(self) -> list[str]:
        """SQL that recreates `public` (dropped with the other schemas) as the archive
        expects to find it."""
        conn = self._connect()
        try:
            if conn.info.server_version >= 150000:
                # pg_dump (15+) records only how `public` differs from its initial state,
                # so it is recreated in that state and the archive applies the differences.
                return [
                    "CREATE SCHEMA public AUTHORIZATION pg_database_owner;",
                    "GRANT USAGE ON SCHEMA public TO PUBLIC;",
                    "COMMENT ON SCHEMA public IS 'standard public schema';",
                ]
            # Older servers: pg_dump leaves `public` to the target database, which keeps
            # it as it is.
            public = conn.execute(
                "SELECT quote_ident(pg_get_userbyid(nspowner)),"
                " quote_nullable(obj_description(oid, 'pg_namespace'))"
                " FROM pg_namespace WHERE nspname = 'public'"
            ).fetchone()
            grants = conn.execute(
                "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
                "ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.privilege_type "
                "FROM pg_namespace n, aclexplode(n.nspacl) a "
                "WHERE n.nspname = 'public' AND a.grantee <> n.nspowner"
            ).fetchall()
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot prepare the restore: {_message(exc)}") from exc
        finally:
            conn.close()
        if public is None:
            return []
        return [
            f"CREATE SCHEMA public AUTHORIZATION {public[0]};",
            f"COMMENT ON SCHEMA public IS {public[1]};",
            *(f"GRANT {priv} ON SCHEMA public TO {who};" for who, priv in grants),
        ]

    def restore(self, path: Path, sha256: str, row_counts: dict[str, int] | None) -> dict[str, int]:
        # See pgrestore: one transaction, committed only for a whole, verified archive
        # whose restored row counts are the backup's.
        preamble = self.restore_preamble()
        with (
            self.client_environment() as env,
            tempfile.TemporaryDirectory(prefix=f"{RESTORE_PREFIX}{os.getpid()}-") as scripts,
        ):
            return restore_archive(
                psql=pg_program("psql"),
                pg_restore=pg_program("pg_restore"),
                path=path,
                sha256=sha256,
                preamble=preamble,
                check=commit_check(_TABLES, row_counts),
                env=env,
                target=self.location.describe(),
                scripts=Path(scripts),
            )

    # -- logical dump -------------------------------------------------------------------
    def logical_dump(self) -> LogicalDump:
        conn = self._connect(autocommit=False)
        try:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            schema = _schema_lines(conn)
            tables: dict[str, TableDigest] = {}
            for name, oid in conn.execute(_TABLES).fetchall():
                tables[str(name)] = _table_digest(conn, str(name), int(oid))
            objects = _large_objects_digest(conn)
            if objects.rows:
                tables[_LARGE_OBJECTS] = objects
            conn.rollback()
            return LogicalDump("postgresql", schema, tables)
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot dump {self.location.describe()}: {_message(exc)}") from exc
        finally:
            conn.close()


def _large_objects_digest(conn: psycopg.Connection[Any]) -> TableDigest:
    """Large objects live outside tables: each one's id, owner and content, as one digest."""
    h = hashlib.sha256()
    rows = 0
    with conn.cursor() as cur:
        cur.execute(
            "SELECT oid, pg_get_userbyid(lomowner), encode(sha256(lo_get(oid)), 'hex')"
            " FROM pg_largeobject_metadata ORDER BY oid"
        )
        for oid, owner, digest in cur:
            h.update(f"{oid}\t{owner}\t{digest}\n".encode())
            rows += 1
    return TableDigest(rows, h.hexdigest())


def _table_digest(conn: psycopg.Connection[Any], name: str, oid: int) -> TableDigest:
    keys = [
        str(r[0])
        for r in conn.execute(
            "SELECT format('%%I', a.attname) FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = %s AND i.indisprimary "
            "ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (oid,),
        ).fetchall()
    ]
    # A primary key gives a unique order; otherwise the row's text does (duplicates are equal).
    order = ", ".join(keys) if keys else "turnout_row__::text"
    h = hashlib.sha256()
    rows = 0
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY (SELECT * FROM {name} turnout_row__ ORDER BY {order}) TO STDOUT") as copy,
    ):
        for data in copy:
            chunk = bytes(data)
            h.update(chunk)
            rows += chunk.count(b"\n")
    return TableDigest(rows, h.hexdigest())


_SCHEMA_QUERIES = [
    "SELECT 'schema ' || n.nspname || ' owner ' || pg_get_userbyid(n.nspowner)"
    " || ' comment ' || coalesce(obj_description(n.oid, 'pg_namespace'), '-')"
    " || ' acl ' || coalesce(n.nspacl::text, '-')"
    f" FROM pg_namespace n WHERE {_SYSTEM}",
    f"""SELECT 'column ' || format('%I.%I', n.nspname, c.relname) || ' '
        || row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) || ' ' || a.attname || ' '
        || format_type(a.atttypid, a.atttypmod)
        || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
        || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
        || ' kind ' || c.relkind::text || ' owner ' || pg_get_userbyid(c.relowner)
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        AND {_SYSTEM}""",
    f"""SELECT 'constraint ' || format('%I.%I', n.nspname, c.relname) || ' ' || k.conname || ' '
        || pg_get_constraintdef(k.oid)
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_SYSTEM}""",
    "SELECT 'index ' || indexdef FROM pg_indexes "
    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    f"""SELECT 'view ' || format('%I.%I', n.nspname, c.relname) || ' '
        || pg_get_viewdef(c.oid)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('v', 'm') AND {_SYSTEM}""",
    "SELECT 'sequence ' || format('%I.%I', schemaname, sequencename) || ' '"
    " || coalesce(last_value::text, 'unused') || ' ' || increment_by FROM pg_sequences",
    f"""SELECT 'routine ' || format('%I.%I', n.nspname, p.proname) || '('
        || pg_get_function_identity_arguments(p.oid) || ') ' || md5(coalesce(p.prosrc, ''))
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE {_SYSTEM}
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')""",
    "SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE NOT t.tgisinternal",
    f"""SELECT 'type ' || format('%I.%I', n.nspname, t.typname) || ' ' || t.typtype::text || ' '
        || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                     FROM pg_enum e WHERE e.enumtypid = t.oid), '')
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typtype IN ('e', 'd', 'r') AND {_SYSTEM}""",
    "SELECT 'extension ' || extname || ' ' || extversion FROM pg_extension",
]


def _schema_lines(conn: psycopg.Connection[Any]) -> list[str]:
    lines: list[str] = []
    for query in _SCHEMA_QUERIES:
        lines += [" ".join(str(r[0]).split()) for r in conn.execute(query).fetchall()]
    return sorted(lines)
