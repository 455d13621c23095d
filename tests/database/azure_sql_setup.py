"""Set-up shared by the Azure SQL backup and restore tests: the fake Azure with its SQL
server, a real Azurite for the bacpac's blob, a project whose database is on them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.azure_sql import FakeAzureSql
from tests.fakes.azure_world import AzureWorld, azure_target_toml
from tests.support.waiting import wait_until
from turnout.config import load_config
from turnout.database.service import DatabaseService
from turnout.store import Store

DB = "tesoro-production-db"
SERVER = "tesoro-production-sql"
BEFORE = {"Customers": 3, "schema": ["Customers"]}
"""What the fake database holds before a migration."""


@dataclass
class SqlProject:
    """A project on the fake Azure SQL server: its folder, the fake, the state store."""

    root: Path
    world: AzureWorld
    sql: FakeAzureSql
    store: Store

    @property
    def config_path(self) -> Path:
        """The project's turnout.toml."""
        return self.root / "turnout.toml"

    def configure(self, host: str = f"{SERVER}.database.windows.net", **azure_sql: Any) -> None:
        """Write turnout.toml with these [database.azure_sql] keys (the server's SQL
        endpoint at `host`)."""
        table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in azure_sql.items())
        self.config_path.write_text(
            '[app]\nname = "tesoro"\n\n'
            + azure_target_toml(self.world)
            + "\n[environments.production.database]\n"
            + f'url = "mssql://sqladmin@{host}/{DB}"\n'
            + "timeout_seconds = 1\n"
            + 'password = "env:TESORO_SQL_PASSWORD"\n'
            + "\n[environments.production.database.azure_sql]\n"
            + "poll_interval = 0.1\n"
            + table
            + "\n"
        )

    def service(self, actor: str = "ana") -> DatabaseService:
        """The production database's service, acting as `actor`."""
        config = load_config(self.config_path)
        return DatabaseService(config, config.env("production"), self.store, actor=actor)

    def sql_requests(self, method: str | None = None) -> list[str]:
        """'METHOD path' of every Microsoft.Sql request the fake received."""
        with self.world.server.lock:
            seen = list(self.world.server.requests)
        return [
            f"{r.method} {r.path}"
            for r in seen
            if "/microsoft.sql/" in r.path.lower() and method in (None, r.method)
        ]

    def run_service(self, call: str) -> subprocess.Popen[bytes]:
        """A child process calling `DatabaseService(...)` + `call` on production's database."""
        return self.run_python(
            "from pathlib import Path\n"
            "from turnout.config import load_config\n"
            "from turnout.database.service import DatabaseService\n"
            "from turnout.store import Store\n"
            "c = load_config(Path('turnout.toml'))\n"
            f"DatabaseService(c, c.env('production'), Store.open(c.state_dir)){call}\n"
        )

    def run_python(self, code: str) -> subprocess.Popen[bytes]:
        """A child Python process in the project's environment running `code`."""
        return subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=self.root,
            env=self.world.apply(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )


def kill_when(child: subprocess.Popen[bytes], condition: Callable[[], object], what: str) -> None:
    """SIGKILL the child once `condition` holds (failing with its output if it ended first)."""
    wait_until(lambda: condition() or child.poll() is not None, what=what)
    assert child.poll() is None, child.communicate()[0].decode()
    child.send_signal(signal.SIGKILL)
    child.wait()
