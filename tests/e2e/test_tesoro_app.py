"""The sample app tesoro: each version as a real process on loopback, with a real SQLite file."""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

TESORO = Path(__file__).resolve().parents[2] / "examples" / "tesoro"
VERSIONS = ("1.0.0", "1.1.0", "1.2.0")
MIGRATION_NAME = re.compile(r"^V(\d+)__\w+\.sql$")
START_TIMEOUT = 15.0


@dataclass
class RunningApp:
    """One tesoro process."""

    version: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


Launch = Callable[[str, Path], RunningApp]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _copy_release(version: str, tmp_path: Path) -> Path:
    # Run from a copy, as turnout does: proves each package directory is self-contained.
    release = tmp_path / "releases" / version
    if not release.exists():
        shutil.copytree(
            TESORO / "versions" / version, release, ignore=shutil.ignore_patterns("__pycache__")
        )
    return release


def _app_env(port: int, db: Path) -> dict[str, str]:
    return {**os.environ, "PORT": str(port), "TESORO_DB": str(db), "PYTHONDONTWRITEBYTECODE": "1"}


def _wait_until_serving(app: RunningApp) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            pytest.fail(
                f"tesoro {app.version} exited with {app.process.returncode}: " + app.log.read_text()
            )
        try:
            if httpx.get(app.url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)  # the process is still binding its port
    pytest.fail(f"tesoro {app.version} not serving after {START_TIMEOUT} s: {app.log.read_text()}")


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start tesoro versions on free ports; stop them with SIGTERM and expect a clean exit."""
    started: list[RunningApp] = []

    def start(version: str, db: Path) -> RunningApp:
        release = _copy_release(version, tmp_path)
        port = _free_port()
        log = tmp_path / f"tesoro-{version}-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "app"],
                cwd=release,
                env=_app_env(port, db),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        app = RunningApp(version, f"http://127.0.0.1:{port}", process, log)
        started.append(app)
        _wait_until_serving(app)
        return app

    yield start
    for app in started:
        app.process.terminate()
    for app in started:
        try:
            code = app.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.process.kill()
            app.process.wait()
            pytest.fail(f"tesoro {app.version} ignored SIGTERM")
        assert code == 0, f"tesoro {app.version} exited with {code}: {app.log.read_text()}"


def apply_migrations(version: str, db: Path) -> list[str]:
    """Apply the package's V<n>__*.sql files in numeric order, as the database phase does."""
    folder = TESORO / "versions" / version / "migrations"
    files = sorted(
        (path for path in folder.glob("V*.sql") if MIGRATION_NAME.match(path.name)),
        key=lambda path: int(MIGRATION_NAME.match(path.name).group(1)),  # type: ignore[union-attr]
    )
    with sqlite3.connect(db, timeout=5.0) as conn:
        for path in files:
            conn.executescript(path.read_text(encoding="utf-8"))
    return [path.name for path in files]


def failing_verify_queries(version: str, db: Path) -> list[str]:
    """verify.sql queries that fail: a query passes with no rows or a single row whose first
    column is true."""
    text = (TESORO / "versions" / version / "migrations" / "verify.sql").read_text()
    failures: list[str] = []
    statement = ""
    with sqlite3.connect(db) as conn:
        for line in text.splitlines(keepends=True):
            if not statement and (not line.strip() or line.lstrip().startswith("--")):
                continue
            statement += line
            if not sqlite3.complete_statement(statement):
                continue
            rows = conn.execute(statement).fetchall()
            if rows and not (len(rows) == 1 and bool(rows[0][0])):
                failures.append(statement.strip())
            statement = ""
    return failures


def run_e2e(url: str) -> subprocess.CompletedProcess[str]:
    """examples/tesoro/e2e.py against a URL."""
    return subprocess.run(
        [sys.executable, str(TESORO / "e2e.py"), url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def hammer(url: str, path: str, total: int, connections: int = 4) -> tuple[Counter[int], float]:
    """`total` GETs spread over keep-alive connections; status counts and requests/s."""
    counts: Counter[int] = Counter()
    lock = threading.Lock()

    def worker(n: int) -> None:
        with httpx.Client(base_url=url, timeout=10.0) as client:
            for _ in range(n):
                status = client.get(path).status_code
                with lock:
                    counts[status] += 1

    threads = [
        threading.Thread(target=worker, args=(total // connections,)) for _ in range(connections)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts, total / (time.perf_counter() - began)


def test_versions_share_every_module_but_the_release_file() -> None:
    """The three packages carry identical app code; only app/release.py says what differs."""
    reference = TESORO / "versions" / "1.2.0" / "app"
    modules = sorted(p.name for p in reference.glob("*.py") if p.name != "release.py")
    for version in VERSIONS:
        app = TESORO / "versions" / version / "app"
        assert sorted(p.name for p in app.glob("*.py")) == sorted([*modules, "release.py"])
        _, mismatch, errors = filecmp.cmpfiles(reference, app, modules, shallow=False)
        assert not mismatch and not errors, f"{version} differs from 1.2.0 in {mismatch + errors}"
        assert f'VERSION = "{version}"' in (app / "release.py").read_text()
    v1, v2 = (TESORO / "versions" / v / "migrations" for v in ("1.1.0", "1.2.0"))
    assert filecmp.cmpfiles(v1, v2, ["V001__add_rewards_table.sql", "verify.sql"], shallow=False)[
        0
    ] == ["V001__add_rewards_table.sql", "verify.sql"]
    assert not (TESORO / "versions" / "1.0.0" / "migrations").exists()


def test_1_0_0_walks_the_critical_path_without_rewards(launch: Launch, tmp_path: Path) -> None:
    """1.0.0 creates its base schema, passes the smoke checks, and e2e skips the reward steps."""
    app = launch("1.0.0", tmp_path / "data" / "tesoro.db")
    assert httpx.get(app.url + "/health").json() == {"status": "healthy", "version": "1.0.0"}
    rewards = httpx.get(app.url + "/api/rewards/status")
    assert (rewards.status_code, rewards.json()["status"]) == (200, "not-available")
    assert httpx.get(app.url + "/api/transactions/health").json()["status"] == "healthy"
    assert httpx.post(app.url + "/api/rewards/process", json={}).status_code == 404

    result = run_e2e(app.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[3/6] create transaction: ok" in result.stdout
    assert "[5/6] process reward: skipped" in result.stdout


def test_1_1_0_before_its_migration_passes_smoke_but_fails_e2e(
    launch: Launch, tmp_path: Path
) -> None:
    """Staged before V001 runs, 1.1.0 answers every smoke check; e2e fails naming the gap."""
    app = launch("1.1.0", tmp_path / "tesoro.db")
    for path in ("/health", "/api/rewards/status", "/api/transactions/health"):
        assert httpx.get(app.url + path).status_code == 200, path
    assert httpx.get(app.url + "/api/rewards/status").json()["status"] == "migration-pending"

    result = run_e2e(app.url)
    assert result.returncode == 1
    assert "[4/6] rewards status: FAILED" in result.stdout
    assert "migration-pending" in result.stdout


def test_1_0_0_keeps_working_on_the_1_1_0_schema(launch: Launch, tmp_path: Path) -> None:
    """V001 applied under a running 1.0.0 passes verify.sql; both versions then pass e2e."""
    db = tmp_path / "tesoro.db"
    old = launch("1.0.0", db)
    assert run_e2e(old.url).returncode == 0

    assert apply_migrations("1.1.0", db) == ["V001__add_rewards_table.sql"]
    assert failing_verify_queries("1.1.0", db) == []

    new = launch("1.1.0", db)
    for app in (old, new):
        result = run_e2e(app.url)
        assert result.returncode == 0, f"{app.version}: {result.stdout}{result.stderr}"
    assert "[6/6] verify reward recorded: ok" in run_e2e(new.url).stdout
    diagnostics = httpx.get(new.url + "/api/diagnostics/database").json()
    assert diagnostics["status"] == "healthy"
    assert {"rewards", "sessions", "transactions"} <= set(diagnostics["tables"])
    # Four e2e runs, two on each version; 1.1.0 reads them all from the shared database.
    recent = httpx.get(new.url + "/api/transactions/recent").json()["transactions"]
    assert [t["id"] for t in recent] == [4, 3, 2, 1]


def test_1_2_0_fails_about_5_percent_of_transaction_requests(
    launch: Launch, tmp_path: Path
) -> None:
    """1.2.0 answers ~5 % of transaction reads with 500 while /health and smoke stay green."""
    db = tmp_path / "tesoro.db"
    launch("1.0.0", db)  # creates the base schema, as the first deployment does
    apply_migrations("1.2.0", db)
    app = launch("1.2.0", db)

    counts, _ = hammer(app.url, "/api/transactions/recent", 2000)
    assert set(counts) == {200, 500}
    assert 60 <= counts[500] <= 140, counts  # 5 % of 2,000 is 100

    health, _ = hammer(app.url, "/health", 200)
    assert health == Counter({200: 200})
    for path in ("/api/rewards/status", "/api/transactions/health", "/api/diagnostics/database"):
        assert httpx.get(app.url + path).status_code == 200, path


def test_app_sustains_hundreds_of_requests_per_second(launch: Launch, tmp_path: Path) -> None:
    """Over keep-alive connections 1.1.0 serves the steady-traffic read at >= 300 requests/s."""
    app = launch("1.1.0", tmp_path / "tesoro.db")
    counts, rate = hammer(app.url, "/api/transactions/recent", 1000)
    assert counts == Counter({200: 1000})
    assert rate >= 300, f"{rate:.0f} requests/s"


def test_e2e_reports_bad_usage_and_an_unreachable_app() -> None:
    """e2e.py exits 2 without a URL and 1, naming the step, when nothing listens."""
    env = {k: v for k, v in os.environ.items() if k != "TURNOUT_URL"}
    usage = subprocess.run(
        [sys.executable, str(TESORO / "e2e.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert usage.returncode == 2 and "usage" in usage.stderr

    result = run_e2e(f"http://127.0.0.1:{_free_port()}")
    assert result.returncode == 1
    assert "[1/6] health: FAILED" in result.stdout and "cannot connect" in result.stdout


def test_app_refuses_an_unexpanded_database_placeholder(tmp_path: Path) -> None:
    """TESORO_DB still holding a {placeholder} stops the app with exit 2 before it serves."""
    release = _copy_release("1.0.0", tmp_path)
    env = _app_env(_free_port(), Path("{config_dir}/data/tesoro.db"))
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=release,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "unexpanded placeholder" in result.stderr
