"""The sample app tesoro: build.py's release packages, each version a real process on loopback
with a real SQLite file."""

from __future__ import annotations

import os
import re
import runpy
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

TESORO = Path(__file__).resolve().parents[2] / "src" / "turnout" / "examples" / "tesoro"
VERSIONS = ("1.0.0", "1.1.0", "1.2.0")
MIGRATIONS = ["V001__add_rewards_table.sql", "verify.sql"]
SOURCE_COPY_IGNORE = shutil.ignore_patterns("dist", "data", ".turnout", "__pycache__")
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


def build(source: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python3 build.py ARGS` in a tesoro source tree, as the demo and a developer run it."""
    return subprocess.run(
        [sys.executable, "build.py", *args],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tree(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under root: relative path -> (mode, content)."""
    return {
        path.relative_to(root).as_posix(): (path.stat().st_mode & 0o777, path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three release packages, built once by build.py into a temporary dist/."""
    out = tmp_path_factory.mktemp("tesoro") / "dist"
    result = build(TESORO, "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in out.iterdir()) == list(VERSIONS)
    return out


def _copy_release(packages: Path, version: str, tmp_path: Path) -> Path:
    # Run from a copy, as turnout does: proves each package directory is self-contained.
    release = tmp_path / "releases" / version
    if not release.exists():
        shutil.copytree(packages / version, release)
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
def launch(packages: Path, tmp_path: Path) -> Iterator[Launch]:
    """Start tesoro versions on free ports; stop them with SIGTERM and expect a clean exit."""
    started: list[RunningApp] = []

    def start(version: str, db: Path) -> RunningApp:
        release = _copy_release(packages, version, tmp_path)
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


def apply_migrations(package: Path, db: Path) -> list[str]:
    """Apply the package's V<n>__*.sql files in numeric order, as the database phase does."""
    folder = package / "migrations"
    files = sorted(
        (path for path in folder.glob("V*.sql") if MIGRATION_NAME.match(path.name)),
        key=lambda path: int(MIGRATION_NAME.match(path.name).group(1)),  # type: ignore[union-attr]  # only names that match
    )
    with sqlite3.connect(db, timeout=5.0) as conn:
        for path in files:
            conn.executescript(path.read_text(encoding="utf-8"))
    return [path.name for path in files]


def failing_verify_queries(package: Path, db: Path) -> list[str]:
    """verify.sql queries that fail: a query passes with no rows or a single row whose first
    column is true."""
    text = (package / "migrations" / "verify.sql").read_text()
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


def hammer(url: str, path: str, total: int, connections: int = 4) -> Counter[int]:
    """`total` GETs spread over keep-alive connections; the status counts."""
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
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts


def test_packages_share_the_source_and_differ_only_in_release_settings(packages: Path) -> None:
    """Each package carries app/ as in the source but for release.py, and its migrations byte
    for byte."""
    source = tree(TESORO / "app")
    expected = {
        "1.0.0": (False, 0.0, []),
        "1.1.0": (True, 0.0, MIGRATIONS),
        "1.2.0": (True, 0.05, MIGRATIONS),
    }
    for version, (rewards, fault_rate, migrations) in expected.items():
        package = packages / version
        app = tree(package / "app")
        assert {k: v for k, v in app.items() if k != "release.py"} == {
            k: (0o644, content) for k, (_, content) in source.items() if k != "release.py"
        }
        settings = runpy.run_path(str(package / "app" / "release.py"))
        assert (settings["VERSION"], settings["REWARDS"], settings["FAULT_RATE"]) == (
            version,
            rewards,
            fault_rate,
        )
        assert sorted(tree(package)) == sorted(
            [*(f"app/{name}" for name in app), *(f"migrations/{name}" for name in migrations)]
        )
        for name in migrations:
            built = (package / "migrations" / name).read_bytes()
            assert built == (TESORO / "migrations" / name).read_bytes(), f"{version}: {name}"


def test_build_from_a_copy_is_deterministic_and_replaces_packages(
    packages: Path, tmp_path: Path
) -> None:
    """A copy of the example builds dist/ next to build.py; rebuilding gives identical files and
    drops stale ones, whatever the directory."""
    copy = tmp_path / "tesoro"
    shutil.copytree(TESORO, copy, ignore=SOURCE_COPY_IGNORE)
    first = build(copy)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "dist/1.0.0: tesoro 1.0.0, app/ and migrations: none",
        "dist/1.1.0: tesoro 1.1.0, app/ and migrations: V001__add_rewards_table.sql, verify.sql",
        "dist/1.2.0: tesoro 1.2.0, app/ and migrations: V001__add_rewards_table.sql, verify.sql",
    ]
    built = tree(copy / "dist")
    assert built == tree(packages), "the same source built elsewhere gives other files"

    (copy / "dist" / "1.1.0" / "app" / "stale.py").write_text("left over\n")
    again = build(copy, "1.1.0")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [first.stdout.splitlines()[1]]
    assert tree(copy / "dist") == built
    assert sorted(p.name for p in (copy / "dist").iterdir()) == list(VERSIONS)
    assert not any(str(copy).encode() in content for _, content in built.values())


def test_build_refuses_an_unknown_version_and_bad_settings(tmp_path: Path) -> None:
    """An unknown version or a bad releases.toml key exits 2 with one clear line, building
    nothing."""
    copy = tmp_path / "tesoro"
    shutil.copytree(TESORO, copy, ignore=SOURCE_COPY_IGNORE)
    unknown = build(copy, "1.1.0", "9.9.9")
    assert unknown.returncode == 2
    assert unknown.stderr == (
        "build.py: unknown version 9.9.9 (releases.toml has 1.0.0, 1.1.0, 1.2.0)\n"
    )
    assert not (copy / "dist").exists()

    releases = copy / "releases.toml"
    releases.write_text(releases.read_text().replace("fault_rate = 0.05", "fault_rate = 5"))
    bad = build(copy)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert (
        'releases.toml: [releases."1.2.0"]: fault_rate must be a number from 0 to 1' in bad.stderr
    )
    assert not (copy / "dist").exists()


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


def test_1_0_0_keeps_working_on_the_1_1_0_schema(
    launch: Launch, packages: Path, tmp_path: Path
) -> None:
    """V001 applied under a running 1.0.0 passes verify.sql; both versions then pass e2e."""
    db = tmp_path / "tesoro.db"
    old = launch("1.0.0", db)
    assert run_e2e(old.url).returncode == 0

    assert apply_migrations(packages / "1.1.0", db) == ["V001__add_rewards_table.sql"]
    assert failing_verify_queries(packages / "1.1.0", db) == []

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
    launch: Launch, packages: Path, tmp_path: Path
) -> None:
    """1.2.0 answers ~5 % of transaction reads with 500 while /health and smoke stay green."""
    db = tmp_path / "tesoro.db"
    launch("1.0.0", db)  # creates the base schema, as the first deployment does
    apply_migrations(packages / "1.2.0", db)
    app = launch("1.2.0", db)

    counts = hammer(app.url, "/api/transactions/recent", 2000)
    assert set(counts) == {200, 500}
    assert 60 <= counts[500] <= 140, counts  # 5 % of 2,000 is 100

    health = hammer(app.url, "/health", 200)
    assert health == Counter({200: 200})
    for path in ("/api/rewards/status", "/api/transactions/health", "/api/diagnostics/database"):
        assert httpx.get(app.url + path).status_code == 200, path


def test_app_serves_concurrent_keep_alive_clients(launch: Launch, tmp_path: Path) -> None:
    """1.1.0 answers 1,000 steady-traffic reads from concurrent keep-alive clients, all 200
    (its rate is the demo's concern: production's chapter drives 300 requests/s)."""
    app = launch("1.1.0", tmp_path / "tesoro.db")
    counts = hammer(app.url, "/api/transactions/recent", 1000)
    assert counts == Counter({200: 1000})


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


def test_app_refuses_an_unexpanded_database_placeholder(packages: Path, tmp_path: Path) -> None:
    """TESORO_DB still holding a {placeholder} stops the app with exit 2 before it serves."""
    release = _copy_release(packages, "1.0.0", tmp_path)
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
