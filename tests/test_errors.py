"""Operational failures have operational exit codes: never 1 ("internal error") for a
condition the person can fix."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.local_fixtures import free_port
from tests.support.project import Project, fake_project
from turnout.targets.local.paths import HostPaths

HUGE_ID = "12345678901234567890"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A fake-target project with a second environment on a local slot host never started."""
    extra = (
        f'\n[environments.local]\ntarget = {{ kind = "local", address = "127.0.0.1:{free_port()}"'
        " }\n"
    )
    project = fake_project(tmp_path, extra=extra)
    project.set_slots({"production": "1.0.0", "blue": None})
    return project


def _no_internal_error(stderr: str) -> None:
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr


def test_unreachable_state_store_is_exit_3(project: Project) -> None:
    """A PostgreSQL state store nobody listens for: exit 3 saying it is unavailable."""
    url = f"postgresql+psycopg://turnout:secret@127.0.0.1:{free_port()}/turnout"
    done = project.turnout(
        "deploy", "--env", project.env, "--version", "1.1.0", "--yes",
        env={"TURNOUT_STATE_URL": url},
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "state database" in done.stderr and "unavailable" in done.stderr
    assert "secret" not in done.stderr
    _no_internal_error(done.stderr)


def test_slot_host_down_is_exit_3_saying_how_to_start_it(project: Project) -> None:
    """`turnout rollback` on a local target whose host is not running: exit 3 and the fix."""
    done = project.turnout("rollback", "--env", "local")
    assert done.returncode == 3, done.stderr
    assert "turnout host up --env local" in done.stderr
    _no_internal_error(done.stderr)


def test_unreachable_tracker_refuses_the_deployment_with_exit_3(tmp_path: Path) -> None:
    """A GitHub tracker nobody answers for: exit 3 naming it, production untouched."""
    extra = (
        '\n[integrations.tracker]\nkind = "github"\n'
        '\n[integrations.github]\nrepository = "shop/app"\ntoken = "env:GH_TOKEN"\n'
        f'base_url = "http://127.0.0.1:{free_port()}"\n'
    )
    project = fake_project(tmp_path, extra=extra)
    project.set_slots({"production": "1.0.0", "blue": None})
    done = project.turnout(
        "deploy", "--env", "web", "--version", "1.1.0", "--yes", env={"GH_TOKEN": "x"}
    )
    assert done.returncode == 3, done.stderr
    assert "tracking issue: GitHub" in done.stderr and "nobody answered" in done.stderr
    assert project.slots() == {"production": "1.0.0", "blue": None}
    _no_internal_error(done.stderr)


@pytest.mark.parametrize(
    "args",
    [["db", "status"], ["db", "backup"], ["db", "migrate", "--version", "1.1.0"]],
    ids=["status", "backup", "migrate"],
)
def test_unreachable_application_database_is_exit_5(tmp_path: Path, args: list[str]) -> None:
    """An application database nobody listens for: exit 5 naming it, no traceback."""
    extra = f'\n[environments.web.database]\nurl = "postgresql://app@127.0.0.1:{free_port()}/app"\n'
    project = fake_project(tmp_path, extra=extra)
    project.add_package("1.1.0")
    done = project.turnout(*args, "--env", "web")
    assert done.returncode == 5, done.stderr
    assert "cannot connect to postgresql://app@127.0.0.1" in done.stderr, done.stderr
    _no_internal_error(done.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["approve", HUGE_ID, "--as", "bob"], "out of range"),
        (["incident", "close", HUGE_ID], "out of range"),
        (["history", "--limit", HUGE_ID], "out of range"),
        (["window", "--env", "web", "--at", "9999-12-31T10:00"], "year 9999 is out of range"),
        (["report", "--env", "web", "--days", "99999999"], "--days"),
    ],
    ids=["approve-id", "incident-id", "history-limit", "window-year", "report-days"],
)
def test_out_of_range_arguments_are_bad_input(
    project: Project, args: list[str], message: str
) -> None:
    """A 20-digit id, a year 9999 or a century of days: exit 2 with a message, no traceback."""
    done = project.turnout(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    _no_internal_error(done.stderr)


# A stand-in for a wedged slot host: holds the host's lock the way a running host does,
# listens on its admin socket, reads each request (noting its op) and never answers.
_WEDGED_HOST = """
import fcntl, json, os, socket, sys, threading
state_dir, sock_path, ops_file = sys.argv[1:]
os.makedirs(state_dir, exist_ok=True)
lock = os.open(os.path.join(state_dir, "host.lock"), os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
with open(os.path.join(state_dir, "host.pid"), "w") as f:
    f.write(str(os.getpid()))
os.makedirs(os.path.dirname(sock_path), exist_ok=True)
if os.path.exists(sock_path):
    os.unlink(sock_path)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sock_path)
server.listen(16)
print("listening", flush=True)
held = []
def note(conn):
    line = conn.makefile("rb").readline()
    with open(ops_file, "a") as f:
        f.write(json.loads(line)["op"] + "\\n")
while True:
    conn, _ = server.accept()
    held.append(conn)  # kept open, never answered
    threading.Thread(target=note, args=(conn,), daemon=True).start()
"""

_READ_ONLY_OPS = {"slots", "status", "metrics", "traffic", "check_settings"}


@pytest.fixture
def wedged(tmp_path: Path) -> Iterator[tuple[Project, Path]]:
    """A project whose environment `wedged` has a slot host that accepts but never answers
    (admin_timeout 0.5 s); yields it and the file listing the ops the host was asked."""
    extra = (
        f'\n[environments.wedged]\ntarget = {{ kind = "local", address = "127.0.0.1:{free_port()}",'
        ' state_dir = "wedged-host", admin_timeout = 0.5 }\n'
    )
    project = fake_project(tmp_path / "project", extra=extra)
    state_dir = project.root / "wedged-host"
    ops = tmp_path / "ops.txt"
    ops.touch()
    host = subprocess.Popen(
        [sys.executable, "-c", _WEDGED_HOST, str(state_dir), str(HostPaths(state_dir).socket),
         str(ops)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert host.stdout is not None and host.stdout.readline() == "listening\n"
        yield project, ops
    finally:
        host.kill()
        host.wait()


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["deploy", "--env", "wedged", "--version", "1.1.0", "--yes"], 3),
        (["status", "--env", "wedged"], 0),  # a report: it says what it could not learn
        (["rollback", "--env", "wedged"], 3),
    ],
    ids=["deploy", "status", "rollback"],
)
def test_wedged_slot_host_is_an_operational_exit_after_admin_timeout(
    wedged: tuple[Project, Path], args: list[str], code: int
) -> None:
    """A host that never answers: after admin_timeout, one line naming it; exit 3 (status: 0)."""
    project, ops = wedged
    done = project.turnout(*args)
    assert done.returncode == code, done.stderr
    assert "slot host for wedged did not answer" in done.stderr, done.stderr
    assert "within 0.5 s (target.admin_timeout" in done.stderr, done.stderr
    asked = set(ops.read_text().split())
    assert asked and asked <= _READ_ONLY_OPS, asked  # nothing that changes a slot was asked
    _no_internal_error(done.stderr)
