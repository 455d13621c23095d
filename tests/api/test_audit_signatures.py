"""The signatures the audit log holds: verified by `audit verify`, shown by `audit show`."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.policy_project import PolicyProject
from tests.support.ssh_keys import Keys, make_keys, signed_project, waiting_for_approval
from turnout import api
from turnout.cli.main import main
from turnout.config import load_config
from turnout.errors import AuditChainBroken
from turnout.policy.approvals import record_approval
from turnout.store.audit import GENESIS, audit_hash


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """One set of keys for the module (made once: key generation is the slow part)."""
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def approved(tmp_path: Path, keys: Keys) -> PolicyProject:
    """A production deployment with sam's signed approval recorded (store closed after)."""
    project = signed_project(tmp_path / "shop", keys)
    dep = waiting_for_approval(project, keys)
    record_approval(
        project.config, project.store, dep, "sam", "ok", signing_key=keys.private("sam")
    )
    project.store.close()
    return project


def _rehash_with(path: Path, change: dict[str, object]) -> int:
    """Change the approval.recorded entry's details and recompute every hash (a rewrite
    by someone who can write the store); the changed row's id."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        rows = db.execute(
            "SELECT id, at, actor, action, environment, deployment_id, details FROM audit"
            " ORDER BY id"
        ).fetchall()
        prev, changed = GENESIS, 0
        for row_id, at, actor, action, environment, dep, text in rows:
            details = json.loads(text)
            if action == "approval.recorded":
                details.update(change)
                changed = row_id
            digest = audit_hash(
                prev, datetime.fromisoformat(at), actor, action, environment, dep, details
            )
            db.execute(
                "UPDATE audit SET details = ?, prev_hash = ?, hash = ? WHERE id = ?",
                (json.dumps(details), prev, digest, row_id),
            )
            prev = digest
    return changed


def test_audit_verify_checks_the_signatures_and_show_lists_them(
    approved: PolicyProject, capsys: pytest.CaptureFixture[str]
) -> None:
    """The signed approval verifies in the log; `audit show` marks it signed with its key."""
    checked = api.verify_audit(config=approved.config)
    # sam's two signed attestations, then sam's signed approval.
    assert [s.signature for s in checked.signed] == ["signed"] * 3
    shown = api.show_audit(env="production", config=approved.config)
    recorded = [line for line in shown.lines if line.action == "approval.recorded"]
    assert len(recorded) == 1 and recorded[0].signature == "signed"
    assert recorded[0].key is not None and recorded[0].key.startswith("SHA256:")
    assert recorded[0].actor == "sam"
    config = str(approved.root / "turnout.toml")
    capsys.readouterr()
    assert main(["audit", "show", "--env", "production", "--config", config]) == 0
    said = capsys.readouterr().err
    assert f"sam approval.recorded #{recorded[0].deployment} [signed SHA256:" in said
    assert main(["audit", "verify", "--config", config]) == 0
    assert "3 of 3 signed statements verify" in capsys.readouterr().err


def test_a_statement_rewritten_in_the_log_is_reported(approved: PolicyProject) -> None:
    """A rehashed chain holds, but the rewritten statement's signature does not verify."""
    entry = next(e for e in api.show_audit(config=approved.config).lines if e.signature)
    assert entry.signature == "signed"
    log = approved.store.url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(log)) as db:
        (text,) = db.execute("SELECT details FROM audit WHERE id = ?", (entry.row,)).fetchone()
    statement = json.loads(text)["statement"].replace('"version":"1.1.0"', '"version":"1.2.0"')
    row = _rehash_with(Path(log), {"statement": statement})
    with pytest.raises(AuditChainBroken, match=f"row {row} .*does not verify"):
        api.verify_audit(config=approved.config)


def test_a_revoked_key_is_shown_not_failed(approved: PolicyProject, tmp_path: Path) -> None:
    """After sam's key is replaced, the old signature shows as unknown-key; verify still holds."""
    toml = approved.root / "turnout.toml"
    other = make_keys(tmp_path / "other", ("sam",))
    old = next(
        line
        for line in toml.read_text().splitlines()
        if line.startswith("ssh_keys") and "sam" in line
    )
    toml.write_text(toml.read_text().replace(old, f'ssh_keys = ["{other.public("sam")}"]'))
    config = load_config(toml)
    checked = api.verify_audit(config=config)
    assert [s.signature for s in checked.signed] == ["unknown-key"] * 3
    assert (
        checked.signed[0].problem is not None and "nobody in `people`" in checked.signed[0].problem
    )
