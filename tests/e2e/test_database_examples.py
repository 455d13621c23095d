"""docs/database.md's Django and Alembic worked examples, deployed as written on the local
target (slot host and router) against the test run's real PostgreSQL server."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.in_process import environment, turnout_in_process
from tests.support.local_fixtures import free_port
from tests.support.migration_apps import alembic_release, django_release
from tests.support.postgres_server import PostgresServer
from tests.support.venv_package import build_venv_with
from turnout.config import load_config
from turnout.model import Release
from turnout.store import Store
from turnout.targets.local import LocalTarget, start_host, stop_host
from turnout.targets.protocol import PRODUCTION

DOCS = Path(__file__).resolve().parents[2] / "docs" / "database.md"
HEADINGS = {
    "django": "### Worked example: a Django app on the local target with PostgreSQL",
    "alembic": "### Worked example: an Alembic app",
}
DISTRIBUTIONS = {
    "django": ["django", "asgiref", "sqlparse", "psycopg", "psycopg-binary", "typing-extensions"],
    "alembic": [
        *("alembic", "sqlalchemy", "mako", "markupsafe"),
        *("psycopg", "psycopg-binary", "typing-extensions"),
    ],
}
RELEASES: dict[str, Callable[..., None]] = {"django": django_release, "alembic": alembic_release}
PENDING = {
    "django": ["shop.0001_rewards", "shop.0002_tiers"],
    "alembic": ["1a2b3c4d5e6f", "2b3c4d5e6f7a"],
}
# What the example leaves to the reader's own policy: no approval, window or metrics here.
TEST_POLICY = """
[checks.warmup]
requests = 1

[analysis]
provider = "none"
min_observation = 0

[integrations.vcs]
tag = false

[environments.production.policy]
production = false
enforce_window = false
"""


def example_config(tool: str) -> str:
    """The first TOML block under the tool's worked-example heading in docs/database.md."""
    text = DOCS.read_text()
    section = text[text.index(HEADINGS[tool]) :]
    match = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no TOML block under {HEADINGS[tool]!r}"
    return match.group(1)


def replace_once(text: str, key: str, value: str) -> str:
    """`key = "..."` set to `value`; the example must have exactly one such line."""
    changed, count = re.subn(rf'(?m)^{key} = "[^"]*"', f"{key} = {json.dumps(value)}", text)
    assert count == 1, f"the example has {count} `{key} =` lines"
    return changed


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Path]]:
    """A folder holding `.venv` with the tool's distributions, made once per tool."""
    made: dict[str, Path] = {}

    def venv_for(tool: str) -> Path:
        if tool not in made:
            made[tool] = build_venv_with(tmp_path_factory.mktemp(tool), DISTRIBUTIONS[tool])
        return made[tool]

    yield venv_for


@pytest.mark.parametrize("tool", ["django", "alembic"])
def test_worked_example_deploys_on_the_local_target_with_postgresql(
    tmp_path: Path, postgres: PostgresServer, venvs: Callable[[str], Path], tool: str
) -> None:
    """The example's 1.1.0 replaces 1.0.0: backed up, migrated by the tool from the release's
    own venv, verified and swapped in, its new page reading the migrated table through the
    router, 1.0.0 warm in the other slot."""
    dbname = postgres.create_database("example_" + uuid.uuid4().hex[:10])
    with psycopg.connect(postgres.dsn(dbname), autocommit=True) as pg:
        pg.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        pg.execute("INSERT INTO users VALUES (1, 'ann'), (2, 'bob'), (3, 'zoë')")
    address = f"127.0.0.1:{free_port()}"
    config = example_config(tool)
    config = replace_once(config, "address", address)
    config = replace_once(config, "url", postgres.url_without_password(dbname))
    (tmp_path / "turnout.toml").write_text(config + TEST_POLICY)
    for version in ("1.0.0", "1.1.0"):
        package = tmp_path / "dist" / version
        # Hard links: the venv's files are the same in both releases, and the host copies
        # each release into its own folder anyway.
        shutil.copytree(venvs(tool), package, symlinks=True, copy_function=os.link)
        RELEASES[tool](package, migrations=version != "1.0.0")
    driver = "postgresql+psycopg" if tool == "alembic" else "postgresql"
    secrets = {
        "TURNOUT_USER": "tester",
        "SHOP_DB_PASSWORD": postgres.password,
        "SHOP_DATABASE_URL": postgres.url(dbname, driver=driver),
    }
    loaded = load_config(tmp_path / "turnout.toml")
    env = loaded.env("production")
    start_host(loaded, env)
    try:
        # Before the test: 1.0.0, the release before the migrations, serves production.
        target = LocalTarget(loaded, env)
        target.ensure_slot("blue")
        with environment(secrets):
            target.deploy("blue", Release("1.0.0", tmp_path / "dist" / "1.0.0"))
        target.swap("blue", PRODUCTION)
        argv = ["deploy", "--env", "production", "--version", "1.1.0", "--yes"]
        argv += ["--config", str(tmp_path / "turnout.toml")]
        deployed = turnout_in_process(argv, cwd=tmp_path, env=secrets)
        assert deployed.returncode == 0, deployed.stderr
        page = httpx.get(f"http://{address}/rewards", timeout=10)
        slots = target.slots()
    finally:
        stop_host(loaded, env)
    assert page.status_code == 200, page.text
    assert page.json() == {"version": "1.1.0", "tiers": {"basic": 3}}
    assert slots["blue"].version == "1.0.0"  # kept warm for an instant swap back
    with Store.open(tmp_path / ".turnout") as store:
        deployment = store.deployments("production")[0]
        steps = {row.name: row for row in store.steps(deployment.id)}
        assert (steps["backup"].outputs or {})["pending"] == PENDING[tool]
        assert [b.deployment_id for b in store.backups("production")] == [deployment.id]
        assert steps["migrate"].status == "succeeded"
        assert (steps["migrate"].outputs or {})["applied"] == PENDING[tool]
        assert steps["verify-db"].status == "succeeded"
        assert steps["swap"].status == "succeeded"
