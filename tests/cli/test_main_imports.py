"""Commands import only what they need: what a fresh process has loaded after each command."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

from tests.support.project import fake_project
from turnout.store import schema

PROBE = """
import sys
from turnout.cli.main import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write("\\n".join(sorted(sys.modules)))
raise SystemExit(code)
"""
# Loaded only by commands that change something or run the runbook.
ENGINE = {"alembic", "turnout.runbook.engine", "turnout.database", "turnout.integrations.notify"}
MODELS_AND_STORE = {"sqlalchemy", "pydantic", "turnout.config.root", "holidays", "httpx"}
# What reading a SQLite store and showing it costs nothing of: the SQL toolkit (the store
# reads through sqlite3), the HTTP client (the fake target's slot table is a file), the
# holiday calendars (a calendar validated once, and a year's holidays, are remembered) and
# the TOML parser (the remembered configuration is read instead of turnout.toml).
HEAVY_FOR_READING = {"sqlalchemy", "alembic", "httpx", "holidays", "tomllib"}


def _loaded(tmp_path: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    listing = tmp_path / "modules.txt"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(listing), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(listing.read_text().split())


def test_help_loads_neither_models_nor_store(tmp_path: Path) -> None:
    """`turnout --help` imports no configuration models, state store, HTTP client or engine."""
    loaded = _loaded(tmp_path, tmp_path, "--help")
    assert not loaded & (ENGINE | MODELS_AND_STORE)


def test_reading_commands_load_no_engine(tmp_path: Path) -> None:
    """`status`, `window` and `history` on an existing store import neither engine nor Alembic."""
    project = fake_project(tmp_path / "project")
    done = project.turnout("deploy", "--env", "web", "--version", "1.0.0", "--yes")
    assert done.returncode == 0, done.stderr[-2000:]
    config = ["--config", str(project.config)]
    for command in (["status", "--env", "web"], ["window", "--env", "web"], ["history"]):
        loaded = _loaded(tmp_path, project.root, *command, *config)
        assert not loaded & ENGINE, (command, sorted(loaded & ENGINE))


def test_schema_head_read_from_revision_files_matches_alembic() -> None:
    """The head revision read without Alembic is the one Alembic computes."""
    from alembic.script import ScriptDirectory

    alembic_head = ScriptDirectory.from_config(schema._alembic_config()).get_current_head()
    assert schema.head_revision() == alembic_head
    assert schema._head_from_files() == alembic_head


def test_reading_commands_load_no_sql_toolkit_http_client_or_calendars(tmp_path: Path) -> None:
    """`status`, `history` and `window` on a SQLite store import neither SQLAlchemy, Alembic,
    httpx nor `holidays` once the calendar was validated and the year's holidays computed."""
    project = fake_project(tmp_path / "project")
    done = project.turnout("deploy", "--env", "web", "--version", "1.0.0", "--yes")
    assert done.returncode == 0, done.stderr[-2000:]
    config = ["--config", str(project.config)]
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = _loaded(tmp_path, project.root, "history", *config, env=cache)
    assert "holidays" in first  # nothing remembered yet: the calendar is checked for real
    for command in (["status", "--env", "web"], ["history"]):
        loaded = _loaded(tmp_path, project.root, *command, *config, env=cache)
        assert not loaded & HEAVY_FOR_READING, (command, sorted(loaded & HEAVY_FOR_READING))
    window = ["window", "--env", "web", *config]
    _loaded(tmp_path, project.root, *window, env=cache)  # computes this year's holidays once
    loaded = _loaded(tmp_path, project.root, *window, env=cache)
    assert not loaded & HEAVY_FOR_READING, sorted(loaded & HEAVY_FOR_READING)


def test_fast_commands_are_registered_by_the_module_they_name() -> None:
    """Each command started through the short path is one its module registers, among others."""
    import typer

    from turnout.cli.main import FAST_COMMANDS

    for command, module_name in FAST_COMMANDS.items():
        module = importlib.import_module(f"turnout.cli.{module_name}")
        app = typer.Typer()
        module.register(app)
        names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
        assert command in names and len(names) > 1, (command, module_name, names)


def test_reading_commands_load_only_their_own_command_module(tmp_path: Path) -> None:
    """`status` runs without importing the modules of unrelated commands (db, host)."""
    project = fake_project(tmp_path / "project")
    loaded = _loaded(
        tmp_path, project.root, "status", "--env", "web", "--config", str(project.config)
    )
    assert not loaded & {"turnout.cli.db_cmd", "turnout.cli.host_cmd"}


def test_status_on_the_local_target_loads_no_http_client(tmp_path: Path) -> None:
    """`status` of a local-target environment asks its slot host without importing httpx."""
    sample = tmp_path / "sample"
    done = subprocess.run(
        [sys.executable, "-m", "turnout", "init", "--example", "tesoro", str(sample)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = _loaded(tmp_path, sample, "status", "--env", "staging")
    assert "turnout.targets.local.target" in loaded
    assert "httpx" not in loaded


def test_reading_a_project_without_a_store_builds_the_empty_schema_once(tmp_path: Path) -> None:
    """`status` and `history` of a project with no store yet run Alembic only the first time
    (the empty schema is remembered in the user's cache), and still create no store."""
    project = fake_project(tmp_path / "project")
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    config = ["--config", str(project.config)]
    first = _loaded(tmp_path, project.root, "history", *config, env=cache)
    assert "alembic" in first
    assert list((tmp_path / "cache" / "turnout").glob("empty-state-*.db"))
    for command in (["status", "--env", "web"], ["history"]):
        loaded = _loaded(tmp_path, project.root, *command, *config, env=cache)
        assert not loaded & {"sqlalchemy", "alembic"}, (command, sorted(loaded))
    assert not schema.state_exists(project.root / ".turnout")


def test_reading_a_deployment_that_succeeded_loads_no_step_outputs_records(tmp_path: Path) -> None:
    """`status` and `history` of a deployment that succeeded import neither the step outputs
    records (only a rollback's journal is read for its swap) nor, without a terminal, Rich's
    table; `history` imports no `status` report either."""
    project = fake_project(tmp_path / "project")
    done = project.turnout("deploy", "--env", "web", "--version", "1.0.0", "--yes")
    assert done.returncode == 0, done.stderr[-2000:]
    config = ["--config", str(project.config)]
    records = {"turnout.runbook.outputs", "turnout.command_record", "rich.table"}
    for command in (["status", "--env", "web"], ["history"]):
        loaded = _loaded(tmp_path, project.root, *command, *config)
        assert not loaded & records, (command, sorted(loaded & records))
    assert "turnout.api.status_report" not in loaded


def test_the_console_script_pauses_the_cycle_collector_only_for_reading_commands(
    tmp_path: Path,
) -> None:
    """Started as the console script starts it, `history` runs with the cycle collector
    paused and `--help` (any other command) with it running again."""
    project = fake_project(tmp_path / "project")
    state = tmp_path / "collector.txt"
    probe = (
        "import atexit, gc, os\n"
        "atexit.register(lambda: open(os.environ['STATE'], 'w').write(str(gc.isenabled())))\n"
        "from turnout.cli.entry import run\n"
        "run()\n"
    )
    enabled = {}
    for command in (["history", "--config", str(project.config)], ["--help"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *command],
            cwd=project.root,
            env={**os.environ, "STATE": str(state)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        enabled[command[0]] = state.read_text()
    assert enabled == {"history": "False", "--help": "True"}


def test_a_reading_command_builds_only_its_own_command(tmp_path: Path) -> None:
    """`window` registers no other command of its module (approve, attest, postmortem), so
    Typer builds the parameters of the one command run, and it still runs by its name."""
    project = fake_project(tmp_path / "project")
    listing = tmp_path / "commands.txt"
    probe = (
        "import sys\n"
        "from turnout.cli.main import app, main\n"
        "code = main(sys.argv[2:])\n"
        "names = [*app.registered_commands, *app.registered_groups]\n"
        "open(sys.argv[1], 'w').write(' '.join(str(n.name) for n in names))\n"
        "raise SystemExit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(listing), "window", "--env", "web"],
        cwd=project.root,
        env={**os.environ, "TURNOUT_CONFIG": str(project.config)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert listing.read_text() == "window"
