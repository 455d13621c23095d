"""Backup, verify and restore times of turnout against the plain tools, in the same run.

SQLite: turnout's backup (online backup API + sha256 + row-count verification)
and restore (checksum check + backup API + row counts) against `sqlite3 .backup`
and `sqlite3 .restore`. PostgreSQL (a throwaway server, as the tests start it):
turnout's pg_dump custom format, streamed into the file, the sha256 and a
concurrent pg_restore that counts every table's rows (plus a `pg_restore --list`
of the written file), and its atomic restore, against `pg_dump -Fc` and `pg_restore --clean
--single-transaction` run by hand. Each timed operation starts after dirty pages were
written out (and, on PostgreSQL, a CHECKPOINT), and the two sides take turns going first,
so neither pays for the other's writes. Goal: turnout within 1.2x, verification included.

    python -m benchmarks.backup_restore --size-mb 1024
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.postgres_server import PostgresServer, start_postgres
from turnout.config import load_config
from turnout.database import DatabaseService
from turnout.database.postgresql import pg_program
from turnout.store import Store

ROW_BYTES = 1000
PASSWORD_VARIABLE = "BENCH_APP_DB_PASSWORD"


def timed(action: Callable[[], object]) -> float:
    """Seconds one call takes."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def fill_sqlite(path: Path, size_mb: int) -> None:
    """A database of about size_mb MB: two tables, an index, ~1 KB text rows."""
    rows = size_mb * 1024 * 1024 // (ROW_BYTES + 60)
    conn = sqlite3.connect(path)
    conn.executescript(
        "PRAGMA journal_mode = WAL;"
        "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, payload TEXT);"
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE INDEX events_kind ON events (kind);"
    )
    conn.execute(
        "INSERT INTO events (kind, payload) "
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
        "SELECT 'k' || (x % 17), hex(randomblob(?)) FROM c",
        (rows, ROW_BYTES // 2),
    )
    conn.execute("INSERT INTO users (name) SELECT 'user ' || id FROM events WHERE id <= 1000")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def fill_postgres(server: PostgresServer, dbname: str, size_mb: int) -> None:
    """A database of about size_mb MB with ~1 KB rows that compress like real text."""
    import psycopg

    rows = size_mb * 1024 * 1024 // (ROW_BYTES + 60)
    with psycopg.connect(server.dsn(dbname), autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id BIGINT PRIMARY KEY, kind TEXT, payload TEXT)")
        conn.execute("CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT)")
        repeats = ROW_BYTES // 32
        conn.execute(
            "INSERT INTO events SELECT g, 'k' || (g %% 17), "
            f"(SELECT string_agg(md5((g * {repeats} + i)::text), '') "
            f"FROM generate_series(1, {repeats}) i) FROM generate_series(1, %s) g",
            (rows,),
        )
        conn.execute("CREATE INDEX events_kind ON events (kind)")
        conn.execute("INSERT INTO users (name) SELECT 'user ' || g FROM generate_series(1, 1000) g")
        conn.execute("VACUUM ANALYZE")


def project(root: Path, url: str, password: bool) -> DatabaseService:
    """A turnout project around the benchmark database."""
    secret = f', password = "env:{PASSWORD_VARIABLE}"' if password else ""
    (root / "turnout.toml").write_text(
        f'[app]\nname = "bench"\n[environments.bench]\ntarget = {{ kind = "fake" }}\n'
        f'database = {{ url = "{url}"{secret}, retention = 100 }}\n'
    )
    loaded = load_config(root / "turnout.toml")
    return DatabaseService(loaded, loaded.env("bench"), Store.open(loaded.state_dir))


def load() -> str:
    """The 1-minute load average against the CPU count (other work skews the figures)."""
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def report(engine: str, size_mb: float, rows: list[tuple[str, float, float]]) -> None:
    """One table per engine: turnout, plain tool, ratio."""
    print(f"\n{engine} ({size_mb:.0f} MB; {load()} at the end)")
    print(f"  {'operation':<46}{'turnout s':>11}{'plain s':>10}{'ratio':>8}")
    for name, ours, plain in rows:
        print(f"  {name:<46}{ours:>11.2f}{plain:>10.2f}{ours / plain:>8.2f}x")


def compare(
    svc: DatabaseService,
    plain_backup: Callable[[], None],
    plain_restore: Callable[[], None],
    repeat: int,
    settle: Callable[[], None] = os.sync,
) -> list[tuple[str, float, float]]:
    """Median times of each operation. Every timed operation starts settled (`settle`:
    dirty pages written, a database checkpoint) so none pays for the writes of the one
    before, and turnout and the plain tool take turns going first."""
    times: dict[str, list[float]] = {k: [] for k in ("pb", "ob", "pr", "or", "obk", "ov")}

    def ours_backup() -> None:
        started = time.perf_counter()
        record = svc.backup(None)
        times["ob"].append(time.perf_counter() - started)
        times["obk"].append(record.details["seconds"]["backup"])
        times["ov"].append(record.details["seconds"]["verify_and_sha256"])
        backups.append(record.id)

    def ours_restore() -> None:
        times["or"].append(timed(functools.partial(svc.restore, backups[-1], reason="benchmark")))

    def theirs_backup() -> None:
        times["pb"].append(timed(plain_backup))

    def theirs_restore() -> None:
        times["pr"].append(timed(plain_restore))

    backups: list[int] = []
    pairs: list[tuple[Callable[[], None], Callable[[], None]]] = [
        (theirs_backup, ours_backup),
        (theirs_restore, ours_restore),
    ]
    for round_ in range(repeat):
        for plain, ours in pairs:
            for action in (plain, ours) if round_ % 2 == 0 else (ours, plain):
                settle()
                action()
    med = {k: statistics.median(v) for k, v in times.items()}
    return [
        (f"backup ({med['obk']:.2f}s) + verify after it ({med['ov']:.2f}s)", med["ob"], med["pb"]),
        ("restore (sha256 check + row counts)", med["or"], med["pr"]),
    ]


def bench_sqlite(work: Path, size_mb: int, repeat: int) -> None:
    """turnout against sqlite3 .backup / .restore."""
    db = work / "app.db"
    fill_sqlite(db, size_mb)
    actual = db.stat().st_size / 1024 / 1024
    svc = project(work, "sqlite:///app.db", password=False)
    cli = shutil.which("sqlite3")
    if cli is None:
        raise SystemExit("the sqlite3 command line tool is needed for the reference")

    def plain_backup() -> None:
        subprocess.run([cli, str(db), f".backup {work / 'plain.db'}"], check=True)

    def plain_restore() -> None:
        subprocess.run([cli, str(db), f".restore {work / 'plain.db'}"], check=True)

    report("SQLite", actual, compare(svc, plain_backup, plain_restore, repeat))
    svc.store.close()


def bench_postgres(work: Path, size_mb: int, repeat: int) -> None:
    """turnout against pg_dump -Fc and pg_restore --clean --single-transaction."""
    import psycopg

    server = start_postgres()
    try:
        dbname = server.create_database("bench")
        fill_postgres(server, dbname, size_mb)
        with psycopg.connect(server.dsn(dbname)) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            actual = (row[0] if row else 0) / 1024 / 1024
        os.environ[PASSWORD_VARIABLE] = server.password
        svc = project(work, server.url_without_password(dbname), password=True)
        env = {**os.environ, "PGPASSWORD": server.password}
        conn_args = ["-h", server.host, "-p", str(server.port), "-U", server.user]
        plain_file = work / "plain.dump"

        def plain_backup() -> None:
            subprocess.run(
                [pg_program("pg_dump"), "-Fc", "-f", str(plain_file), *conn_args, dbname],
                env=env,
                check=True,
            )

        def plain_restore() -> None:
            subprocess.run(
                [
                    pg_program("pg_restore"),
                    "--clean",
                    "--if-exists",
                    "--single-transaction",
                    "-d",
                    dbname,
                    *conn_args,
                    str(plain_file),
                ],
                env=env,
                check=True,
            )

        def settle() -> None:
            with psycopg.connect(server.dsn(dbname), autocommit=True) as conn:
                conn.execute("CHECKPOINT")
            os.sync()

        report("PostgreSQL", actual, compare(svc, plain_backup, plain_restore, repeat, settle))
        svc.store.close()
    finally:
        server.stop()


def main() -> None:
    """Run the chosen engines at the chosen size and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mb", type=int, default=1024, help="database size (default 1 GB)")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (median is printed)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where files go (default: tmp)")
    args = parser.parse_args()
    print(f"{args.repeat} rounds, medians; {load()} at the start")
    for engine in args.engines.split(","):
        work = Path(tempfile.mkdtemp(prefix=f"turnout-bench-{engine}-", dir=args.work_dir))
        try:
            bench = bench_sqlite if engine == "sqlite" else bench_postgres
            bench(work, args.size_mb, args.repeat)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
