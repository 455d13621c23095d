"""Signed approvals: real ssh-keygen keys made here, checked by the gate every time it runs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.policy_project import PolicyProject, clean_sarif, make_project
from tests.support.ssh_keys import Keys, make_keys, signed_project, waiting_for_approval
from turnout import api
from turnout.cli.main import main
from turnout.config import load_config
from turnout.errors import BadInput, ConfigError, Refused
from turnout.policy.approvals import record_approval
from turnout.policy.checklist import record_attestation
from turnout.signatures.statement import Statement
from turnout.store import schema


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """One set of keys for the module (made once: key generation is the slow part)."""
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def project(tmp_path: Path, keys: Keys) -> Iterator[PolicyProject]:
    """A project whose production counts only signed approvals, on a best window."""
    made = signed_project(tmp_path / "shop", keys)
    try:
        yield made
    finally:
        made.store.close()


def _gate_message(project: PolicyProject) -> str:
    again = project.resume("production")
    assert again.exit_code == 3, again.message
    return again.message


def test_a_signed_approval_passes_the_gate_and_is_audited(
    project: PolicyProject, keys: Keys
) -> None:
    """sam's approval signed with sam's key counts; the audit entry holds the signature."""
    dep = waiting_for_approval(project, keys)
    approval = record_approval(
        project.config, project.store, dep, "sam", "ok", signing_key=keys.private("sam")
    )
    assert approval.signature is not None and approval.statement is not None
    statement = Statement.parse(approval.statement)
    assert (statement.deployment, statement.environment, statement.version) == (
        dep,
        "production",
        "1.1.0",
    )
    assert statement.package_sha256 is not None and len(statement.package_sha256) == 64
    [shown] = api.status("production", config=project.config).approvals
    assert (shown.approver, shown.signature, shown.problem) == ("sam", "signed", None)
    project.resume("production")
    assert project.passed_gates(dep)
    granted = next(
        e for e in project.store.audit_log(deployment_id=dep) if e.action == "approval.granted"
    )
    assert granted.details["met"]["environment"]["signature"] == "signed"
    recorded = next(
        e for e in project.store.audit_log(deployment_id=dep) if e.action == "approval.recorded"
    )
    assert recorded.details["signature"] == approval.signature
    assert project.store.verify_audit() is None


def test_as_alone_proves_nothing_and_another_persons_key_is_refused(
    project: PolicyProject, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--as sam` without a key is exit 2; dana signing as sam is exit 3; nothing is recorded."""
    dep = waiting_for_approval(project, keys)
    config = str(project.root / "turnout.toml")
    capsys.readouterr()
    assert main(["approve", str(dep), "--as", "sam", "--config", config]) == 2
    assert "counts only signed approvals" in capsys.readouterr().err
    forged = ["approve", str(dep), "--as", "sam", "--key", str(keys.private("dana"))]
    assert main([*forged, "--config", config]) == 3
    said = capsys.readouterr().err
    assert "signed with dana's key" in said and "not sam's" in said
    stranger = ["approve", str(dep), "--as", "sam", "--key", str(keys.private("mallory"))]
    assert main([*stranger, "--config", config]) == 3
    assert "which nobody in `people`" in capsys.readouterr().err
    assert project.store.approvals(dep) == []
    signed = ["approve", str(dep), "--as", "sam", "--key", str(keys.private("sam")), "--json"]
    assert main([*signed, "--config", config]) == 0
    assert '"signed": true' in capsys.readouterr().out


def _forge(url: str, sql: str, values: dict[str, object]) -> None:
    """Write straight into the store's database, as anyone who can write it could."""
    engine = schema.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), values)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The state store's URL: a SQLite file, or a database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop' / '.turnout' / 'state.db'}"
    server = request.getfixturevalue("postgres")
    url: str = server.url(request.getfixturevalue("pg_database"))
    monkeypatch.setenv(schema.STATE_URL_VARIABLE, url)
    return url


def test_rows_written_straight_into_the_store_count_for_nothing(
    store_url: str, tmp_path: Path, keys: Keys
) -> None:
    """A forged unsigned row and a valid signature copied onto another deployment are refused."""
    project = signed_project(tmp_path / "shop", keys)
    try:
        dep = waiting_for_approval(project, keys)
        _forge(
            store_url,
            "INSERT INTO approvals (deployment_id, approver, role, created_at)"
            " VALUES (:dep, 'sam', 'senior-engineer', CURRENT_TIMESTAMP)",
            {"dep": dep},
        )
        message = _gate_message(project)
        assert "not counted: sam's approval (unsigned, and production counts only signed" in message

        # A real signature, for an earlier deployment of the same release, copied over.
        genuine = record_approval(
            project.config, project.store, dep, "sam", signing_key=keys.private("sam")
        )
        project.store.update_deployment(dep, status="refused")
        project.clock.advance(60)
        second = waiting_for_approval(project, keys)
        assert second != dep
        _forge(
            store_url,
            "INSERT INTO approvals (deployment_id, approver, role, created_at, statement,"
            " signature) VALUES (:dep, 'sam', 'senior-engineer', CURRENT_TIMESTAMP, :st, :sig)",
            {"dep": second, "st": genuine.statement, "sig": genuine.signature},
        )
        message = _gate_message(project)
        assert f"it approves deployment {dep}, not {second}" in message
    finally:
        project.store.close()


def test_an_edited_statement_a_revoked_key_and_a_changed_package_are_refused(
    project: PolicyProject, keys: Keys, tmp_path: Path
) -> None:
    """The gate re-checks a valid approval each time: edits, revocation and repackaging undo it."""
    dep = waiting_for_approval(project, keys)
    approval = record_approval(
        project.config, project.store, dep, "sam", "fine", signing_key=keys.private("sam")
    )
    assert approval.statement is not None
    url = f"sqlite:///{project.root / '.turnout' / 'state.db'}"
    edited = approval.statement.replace('"comment":"fine"', '"comment":"fine, and 1.2.0 too"')
    _forge(url, "UPDATE approvals SET statement = :st WHERE id = :id", {"st": edited, "id": 1})
    assert "does not match its statement" in _gate_message(project)
    _forge(
        url,
        "UPDATE approvals SET statement = :st WHERE id = :id",
        {"st": approval.statement, "id": 1},
    )

    # The key is replaced in the configuration: every signature made with it is revoked.
    toml = project.root / "turnout.toml"
    new = make_keys(tmp_path / "new-keys", ("sam",))
    toml.write_text(toml.read_text().replace(keys.public("sam"), new.public("sam")))
    project.config = load_config(toml)
    assert "which nobody in `people` holds" in _gate_message(project)
    toml.write_text(toml.read_text().replace(new.public("sam"), keys.public("sam")))
    project.config = load_config(toml)

    # (sam's attestations were revoked with the key: the checklist refused the deployment.)
    (project.root / "packages" / "1.1.0" / "VERSION").write_text("1.1.0 rebuilt")
    [shown] = api.status("production", config=project.config).approvals
    assert shown.signature == "bad-signature" and "release package" in (shown.problem or "")


def test_a_new_commit_after_the_approval_is_another_release(
    project: PolicyProject, keys: Keys
) -> None:
    """In a git repository the statement names HEAD; a commit made later voids the approval."""

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(project.root), *args], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "--allow-empty", "-m", "a")
    dep = waiting_for_approval(project, keys)
    approval = record_approval(
        project.config, project.store, dep, "sam", signing_key=keys.private("sam")
    )
    assert approval.statement is not None and Statement.parse(approval.statement).commit
    git("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "--allow-empty", "-m", "b")
    # The signed attestations name the commit too: the checklist refuses first.
    assert "it attests commit" in _gate_message(project)


def test_an_emergency_needs_a_signed_vp_approval(project: PolicyProject, keys: Keys) -> None:
    """A senior engineer cannot carry an emergency; the VP's signed approval does."""
    dep = waiting_for_approval(project, keys, "1.2.0", emergency=True, reason="payments failing")
    with pytest.raises(Refused, match="cannot approve"):
        record_approval(project.config, project.store, dep, "sam", signing_key=keys.private("sam"))
    with pytest.raises(BadInput, match="counts only signed approvals"):
        record_approval(project.config, project.store, dep, "vic")
    record_approval(project.config, project.store, dep, "vic", signing_key=keys.private("vic"))
    project.resume("production")
    assert project.passed_gates(dep)


def test_unsigned_approvals_count_where_policy_allows_and_are_shown_as_such(
    tmp_path: Path, keys: Keys
) -> None:
    """With `signed = false` an unsigned approval counts, and the gate says it is unsigned."""
    project = make_project(tmp_path / "shop")
    try:
        dep = waiting_for_approval(project, None)
        record_approval(project.config, project.store, dep, "sam")
        [shown] = api.status("production", config=project.config).approvals
        assert shown.signature == "unsigned" and "unsigned" in shown.line
        project.resume("production")
        assert project.passed_gates(dep)
        granted = next(
            e for e in project.store.audit_log(deployment_id=dep) if e.action == "approval.granted"
        )
        assert granted.details["met"]["environment"]["signature"] == "unsigned"
    finally:
        project.store.close()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("ssh-ed25519", "not an OpenSSH public key"),
        ("ssh-dss AAAAB3NzaC1kc3M=", "is not one of"),
        ("ssh-ed25519 AAAAB3NzaC1yc2E=", "not a ssh-ed25519 key"),
        ("-----BEGIN OPENSSH PRIVATE KEY----- b3Blbn", "private key"),
    ],
)
def test_a_bad_public_key_in_the_configuration_names_its_key(
    tmp_path: Path, line: str, problem: str
) -> None:
    """A malformed `ssh_keys` entry is a configuration error naming people[1].ssh_keys[0]."""
    project_root = tmp_path / "shop"
    with pytest.raises(ConfigError) as raised:
        make_project(
            project_root, replace={'name = "sam"\n': f'name = "sam"\nssh_keys = ["{line}"]\n'}
        )
    assert "people" in str(raised.value) and "ssh_keys[0]" in str(raised.value)
    assert problem in str(raised.value)


def test_the_statement_reads_back_to_the_same_bytes() -> None:
    """A statement parsed from its canonical bytes gives the same bytes (what is verified)."""
    from datetime import UTC, datetime

    from turnout.signatures.statement import ReleaseSubject

    subject = ReleaseSubject(7, "production", "1.4.0", "ab" * 32, "cd" * 20, datetime.now(UTC))
    statement = Statement.approval(subject, "sam", ("senior-engineer",), datetime.now(UTC), "é")
    again = Statement.parse(statement.canonical().decode())
    assert again == statement and again.canonical() == statement.canonical()
    assert again.differs_from(subject) is None


def test_attestations_in_production_are_signed_and_checked_by_the_checklist(
    project: PolicyProject, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    """attest needs the person's key; an unsigned record put in the store fails the item."""
    config = str(project.root / "turnout.toml")
    attest = ["attest", "code-reviewed", "--env", "production", "--version", "1.1.0"]
    capsys.readouterr()
    assert main([*attest, "--as", "sam", "--config", config]) == 2
    assert "counts only signed attestations" in capsys.readouterr().err
    forged = [*attest, "--as", "sam", "--key", str(keys.private("dana")), "--config", config]
    assert main(forged) == 3
    assert "signed with dana's key" in capsys.readouterr().err
    signed = [*attest, "--as", "sam", "--key", str(keys.private("sam")), "--json"]
    assert main([*signed, "--config", config]) == 0
    assert '"signed": true' in capsys.readouterr().out

    project.record_verified("staging", "1.1.0")
    project.write_sarif("1.1.0", clean_sarif())
    # change_notification written straight into the store, unsigned, as anyone could.
    record_attestation(project.store, "production", "1.1.0", "change_notification", "sam")
    refused = project.deploy("production", "1.1.0")
    assert refused.exit_code == 3
    assert "the attestation by sam does not count: unsigned" in refused.message
