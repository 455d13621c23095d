"""The audit chain's head anchored in deployments.log and the release tag: truncating or
rewriting the store's log is reported by `turnout audit verify`."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.project import Project, fake_project
from turnout.integrations.audit_anchors import ANCHOR
from turnout.store.audit import GENESIS, audit_hash


def _git(project: Project, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(project.root), "-c", "user.name=t", "-c", "user.email=t@x", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def deployed_once(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A project in a git repository, tagging releases, after one real deployment."""
    project = fake_project(tmp_path_factory.mktemp("anchors") / "project")
    config = project.config.read_text().replace("tag = false", "tag = true")
    project.config.write_text(config)
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "shop")
    done = project.turnout("deploy", "--env", "web", "--version", "1.0.0", "--yes")
    assert done.returncode == 0, done.stderr[-2000:]
    return project


@pytest.fixture
def deployed(deployed_once: Project, tmp_path: Path) -> Project:
    """A copy of that project (repository, store, log) for one test to tamper with."""
    copy = tmp_path / "project"
    shutil.copytree(deployed_once.root, copy, symlinks=True)
    return Project(copy, deployed_once.env)


def _state(project: Project) -> closing[sqlite3.Connection]:
    """The project's state file, opened directly (as someone tampering with it would)."""
    return closing(sqlite3.connect(project.root / ".turnout" / "state.db", isolation_level=None))


def test_the_log_line_and_the_tag_carry_the_chain_head_and_verify(deployed: Project) -> None:
    """Both anchors name a row the store holds with that hash: audit verify says so (exit 0)."""
    line = (deployed.root / "deployments.log").read_text().splitlines()[0]
    assert line.startswith(datetime.now().strftime("%Y-")) and " - v1.0.0 deployed to web " in line
    logged = ANCHOR.search(line)
    tagged = ANCHOR.search(_git(deployed, "tag", "-l", "--format=%(contents)", "v1.0.0"))
    assert logged is not None and len(logged[2]) == 16
    assert tagged is not None and len(tagged[2]) == 64
    with _state(deployed) as db:
        stored = dict(db.execute("SELECT id, hash FROM audit").fetchall())
    assert stored[int(tagged[1])] == tagged[2] and stored[int(logged[1])].startswith(logged[2])
    done = deployed.read("audit", "verify", "--json")
    assert done.returncode == 0, done.stderr
    sources = {a["source"]: a["ok"] for a in json.loads(done.stdout)["anchors"]}
    assert sources == {"deployments.log line 1": True, "tag v1.0.0": True}


def test_deleting_the_newest_rows_is_reported_against_the_anchor(deployed: Project) -> None:
    """Rows deleted from the anchored one on leave a chain that holds; the anchor shows it."""
    line = (deployed.root / "deployments.log").read_text()
    anchored = ANCHOR.search(line)
    assert anchored is not None
    row = int(anchored[1])
    with _state(deployed) as db:
        db.execute("DELETE FROM audit WHERE id >= ?", (row - 1,))
    done = deployed.read("audit", "verify")
    assert done.returncode == 5, done.stderr
    assert f"deployments.log line 1 anchors audit row {row}, but the log ends at row" in done.stderr
    assert "were deleted" in done.stderr and "Traceback" not in done.stderr


def test_a_rewritten_and_rehashed_log_is_reported_against_the_anchor(deployed: Project) -> None:
    """An entry changed and every hash recomputed passes the chain check, not the anchors."""
    with _state(deployed) as db:
        rows = db.execute(
            "SELECT id, at, actor, action, environment, deployment_id, details FROM audit"
            " ORDER BY id"
        ).fetchall()
        prev = GENESIS
        for number, (row_id, at, actor, action, environment, dep, details) in enumerate(rows):
            actor = "mallory" if number == 1 else actor
            moment = datetime.fromisoformat(at)
            digest = audit_hash(prev, moment, actor, action, environment, dep, json.loads(details))
            db.execute(
                "UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE id = ?",
                (actor, prev, digest, row_id),
            )
            prev = digest
    done = deployed.read("audit", "verify")
    assert done.returncode == 5, done.stderr
    assert "the log was rewritten" in done.stderr and "deployments.log line 1" in done.stderr
