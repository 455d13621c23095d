"""Checklist items and their sources: SARIF reports, commands, history, attestations."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.policy_project import BEST_TIME, PolicyProject, clean_sarif, make_project
from turnout.errors import ConfigError
from turnout.model import DeploymentInfo, DeploymentType, VerdictKind
from turnout.policy.checklist import (
    ChecklistReport,
    evaluate_checklist,
    record_attestation,
    release_migrations,
    sarif_findings,
)
from turnout.policy.flags import DeploymentFlags
from turnout.policy.windows import decide_window, evaluate_window

# A report shaped like CodeQL's: severities on the rules, levels on rules and results.
SCAN: dict[str, Any] = {
    "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
    "version": "2.1.0",
    "runs": [
        {
            "tool": {
                "driver": {
                    "name": "CodeQL",
                    "rules": [
                        {
                            "id": "py/sql-injection",
                            "defaultConfiguration": {"level": "error"},
                            "properties": {"security-severity": "8.8"},
                        },
                        {
                            "id": "py/weak-hash",
                            "defaultConfiguration": {"level": "warning"},
                            "properties": {"security-severity": "5.3"},
                        },
                        {"id": "py/unused-import", "defaultConfiguration": {"level": "note"}},
                        {"id": "custom/bad-thing", "defaultConfiguration": {"level": "error"}},
                    ],
                }
            },
            "results": [
                {
                    "ruleId": "py/sql-injection",
                    "ruleIndex": 0,
                    "message": {"text": "query built from user input"},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": "app/db.py"},
                                "region": {"startLine": 42},
                            }
                        }
                    ],
                },
                {"ruleId": "py/weak-hash", "ruleIndex": 1, "message": {"text": "md5"}},
                {"ruleId": "py/unused-import", "ruleIndex": 2, "message": {"text": "os"}},
                {
                    "ruleId": "custom/bad-thing",
                    "message": {"text": "no severity, error level from the rule"},
                },
                {
                    "ruleId": "py/sql-injection",
                    "ruleIndex": 0,
                    "message": {"text": "reviewed and accepted"},
                    "suppressions": [{"kind": "external", "status": "accepted"}],
                },
                {
                    "ruleId": "py/weak-hash",
                    "message": {"text": "result-level severity wins"},
                    "properties": {"security-severity": "9.1"},
                },
            ],
        }
    ],
}


@pytest.fixture
def project(tmp_path: Path) -> Iterator[PolicyProject]:
    """A project with staging and production on the fake target, clock on a best window."""
    made = make_project(tmp_path / "shop")
    try:
        yield made
    finally:
        made.store.close()


def _info(
    project: PolicyProject, version: str, env: str = "production", **kw: Any
) -> DeploymentInfo:
    fields: dict[str, Any] = {
        "id": "0",
        "environment": env,
        "version": version,
        "type": DeploymentType.APP,
        "deployer": "dana",
        "created_at": BEST_TIME,
        "package": project.root / "packages" / version,
        "previous_version": "1.0.0",
    }
    fields.update(kw)
    return DeploymentInfo(**fields)


def _checklist(
    project: PolicyProject, version: str, env: str = "production", **kw: Any
) -> ChecklistReport:
    environment = project.config.env(env)
    info = _info(project, version, env, **kw)
    flags = DeploymentFlags(deployer=info.deployer, emergency=info.emergency, reason=info.reason)
    verdict = evaluate_window(project.config, environment, project.store, BEST_TIME)
    decision = decide_window(environment, verdict, flags)
    return evaluate_checklist(
        project.config, environment, project.store, info, flags, BEST_TIME, decision
    )


def _item(report: ChecklistReport, key: str) -> tuple[str, str]:
    found = next(i for i in report.items if i.key == key)
    return found.kind.value, found.summary


def test_sarif_findings_follow_severity_level_and_suppressions() -> None:
    """Critical/high means security-severity >= 7 or an error level; suppressed ones don't count."""
    findings, total = sarif_findings(SCAN)
    assert total == 6
    assert [(f.rule, f.severity) for f in findings] == [
        ("py/sql-injection", 8.8),
        ("custom/bad-thing", None),
        ("py/weak-hash", 9.1),
    ]
    assert findings[0].location == "app/db.py:42"
    stricter, _ = sarif_findings(SCAN, min_severity=5.0, fail_levels=("error", "warning"))
    assert len(stricter) == 4


def test_security_scan_item_reads_the_sarif_file(project: PolicyProject) -> None:
    """The security item fails on a report with a critical finding and passes on a clean one."""
    project.write_sarif("1.1.0", SCAN)
    kind, summary = _item(_checklist(project, "1.1.0"), "security_scan")
    assert kind == "fail" and "3 critical/high" in summary and "py/sql-injection" in summary
    project.write_sarif("1.1.0", clean_sarif())
    kind, summary = _item(_checklist(project, "1.1.0"), "security_scan")
    assert kind == "pass" and "no critical/high" in summary


def test_missing_or_broken_sarif_fails(project: PolicyProject) -> None:
    """No report, or a file that is not SARIF, fails the item and names the file."""
    kind, summary = _item(_checklist(project, "1.2.0"), "security_scan")
    assert kind == "fail" and "1.2.0.sarif not found" in summary
    path = project.write_sarif("1.2.0", {})
    path.write_text("{not json")
    kind, summary = _item(_checklist(project, "1.2.0"), "security_scan")
    assert kind == "fail" and "unreadable" in summary


def test_command_source_passes_on_exit_zero(project: PolicyProject) -> None:
    """CI passing comes from the configured command's exit status, with its output as evidence."""
    report = _checklist(project, "1.1.0")
    assert _item(report, "ci_passing")[0] == "pass"
    (project.root / "ci-green").unlink()
    kind, summary = _item(_checklist(project, "1.1.0"), "ci_passing")
    assert kind == "fail" and "exited 1" in summary


def test_staging_history_and_attestations(project: PolicyProject) -> None:
    """Staging tested passes once the same version succeeded there; attestations are recorded."""
    report = _checklist(project, "1.1.0")
    assert _item(report, "staging_tested")[0] == "fail"
    assert "turnout attest code-reviewed" in _item(report, "code_reviewed")[1]
    project.record_verified("staging", "1.0.0")
    assert "last verified there: 1.0.0" in _item(_checklist(project, "1.1.0"), "staging_tested")[1]
    project.record_verified("staging", "1.1.0")
    record_attestation(project.store, "production", "1.1.0", "code-reviewed", "sam", "PR #7")
    report = _checklist(project, "1.1.0")
    assert _item(report, "staging_tested")[0] == "pass"
    kind, summary = _item(report, "code_reviewed")
    assert kind == "attested" and "sam" in summary and "PR #7" in summary
    attested = [r for r in project.store.audit_log() if r.action == "checklist.attested"]
    assert attested[0].actor == "sam" and attested[0].details["item"] == "code_reviewed"


def test_computed_items(project: PolicyProject) -> None:
    """Rollback plan, window, on-call and notification are computed from config and history."""
    report = _checklist(project, "1.1.0")
    assert _item(report, "rollback_plan") == (
        "pass",
        "swap back to 1.0.0 (kept warm in the staging slot)",
    )
    assert _item(report, "window_scheduled")[0] == "pass"
    assert _item(report, "oncall_available") == ("pass", "on call (roster): sam")
    assert _item(report, "change_notification")[0] == "fail"  # source: attestation
    first = _checklist(project, "1.1.0", previous_version=None)
    assert _item(first, "rollback_plan")[0] == "not-applicable"
    own = _checklist(project, "1.1.0", deployer="sam")
    assert "only the deployer" in _item(own, "oncall_available")[1]


SHIFTS = """roster = [
  { person = "sam", end = 2026-12-01T17:30:00Z },
  { person = "vic", start = 2026-12-01T09:00:00, end = 2026-12-01T17:00:00 },
  { person = "dana", start = 2026-12-01T19:00:00Z },
]
"""


def test_oncall_shifts_in_the_integrations_roster(tmp_path: Path) -> None:
    """Shifts in integrations.oncall.roster: only whoever is on shift at the instant counts."""
    made = make_project(tmp_path / "shop", replace={'roster = ["sam"]\n': SHIFTS})
    try:
        # BEST_TIME is 10:00 local: sam's shift ended at 09:30 local, dana's begins at 11:00.
        report = _checklist(made, "1.1.0", deployer="sam")
        assert _item(report, "oncall_available") == ("pass", "on call (roster): vic")
        found = next(i for i in report.items if i.key == "oncall_available")
        assert found.evidence == {"source": "roster", "on_call": ["vic"]}
        alone = _checklist(made, "1.1.0", deployer="vic")
        assert "only the deployer (vic)" in _item(alone, "oncall_available")[1]
    finally:
        made.store.close()


def test_oncall_without_anyone_on_shift_fails(tmp_path: Path) -> None:
    """A roster whose every shift is over names nobody, and the item says so."""
    ended = 'roster = [{ person = "sam", end = 2026-11-30T17:00:00 }]\n'
    made = make_project(tmp_path / "shop", replace={'roster = ["sam"]\n': ended})
    try:
        kind, summary = _item(_checklist(made, "1.1.0"), "oncall_available")
        assert (kind, summary) == ("fail", "nobody is on call now according to the roster")
    finally:
        made.store.close()


def test_oncall_without_a_source_names_the_integrations_keys(tmp_path: Path) -> None:
    """No roster and no escalation policy: the item fails and says where to configure one."""
    made = make_project(
        tmp_path / "shop", replace={'[integrations.oncall]\nroster = ["sam"]\n': ""}
    )
    try:
        kind, summary = _item(_checklist(made, "1.1.0"), "oncall_available")
        assert kind == "fail"
        assert "integrations.oncall.roster" in summary
        assert "policy.oncall" not in summary
    finally:
        made.store.close()


def test_policy_oncall_is_refused_with_a_pointer_to_integrations(tmp_path: Path) -> None:
    """policy.oncall is gone: loading names the file and key, and where on-call lives now."""
    extra = '\n[environments.production.policy.oncall]\nroster = [{ person = "sam" }]\n'
    with pytest.raises(ConfigError) as caught:
        make_project(tmp_path / "shop", extra=extra)
    message = caught.value.message
    assert "turnout.toml" in message and "environments.production.policy" in message
    assert "integrations.oncall" in message


def test_a_shift_must_end_after_it_starts(tmp_path: Path) -> None:
    """A shift whose end is not after its start is a configuration error naming the roster."""
    bad = 'roster = [{ person = "sam", start = 2026-12-02T09:00:00, end = 2026-12-01T09:00:00 }]\n'
    with pytest.raises(ConfigError) as caught:
        make_project(tmp_path / "shop", replace={'roster = ["sam"]\n': bad})
    assert "integrations.oncall.roster[0]" in caught.value.message
    assert "start is not before end" in caught.value.message


def test_notification_passes_when_channels_are_configured(tmp_path: Path) -> None:
    """With a notification URL configured, turnout's own announcement stands for the item."""
    made = make_project(
        tmp_path / "shop",
        extra='\n[environments.production.integrations.notify]\nurls = ["env:SHOP_WEBHOOK"]\n',
        replace={'change_notification = { source = "attestation" }\n': ""},
    )
    try:
        kind, summary = _item(_checklist(made, "1.1.0"), "change_notification")
        assert kind == "pass" and "1 channel" in summary
    finally:
        made.store.close()


def test_staging_items_are_not_required(project: PolicyProject) -> None:
    """Outside production, failing items are shown but do not refuse."""
    report = _checklist(project, "1.1.0", env="staging")
    assert report.ok
    assert not any(i.required for i in report.items)
    assert _item(report, "staging_tested")[0] == "not-applicable"


def _migrations_package(root: Path, version: str, files: dict[str, str]) -> Path:
    package = root / "packages" / f"{version}.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app/__init__.py", "")
        for name, sql in files.items():
            archive.writestr(f"migrations/{name}", sql)
    return package


def test_migrations_tested_compares_checksums_with_staging(tmp_path: Path) -> None:
    """Pending migrations must have been verified on staging with the same sha256."""
    extra = (
        '\n[environments.production.database]\nurl = "sqlite:///prod.db"\n'
        '\n[environments.staging.database]\nurl = "sqlite:///staging.db"\n'
    )
    made = make_project(tmp_path / "shop", extra=extra)
    try:
        v1 = "CREATE TABLE rewards (id INTEGER PRIMARY KEY);\n"
        v2 = "ALTER TABLE rewards ADD COLUMN points INTEGER;\n"
        package = _migrations_package(
            made.root, "1.1.0", {"V001__rewards.sql": v1, "V002__points.sql": v2}
        )
        assert set(release_migrations(package, "migrations", "sqlite")) == {"1", "2"}
        sha1, sha2 = (hashlib.sha256(s.encode()).hexdigest() for s in (v1, v2))

        report = _checklist(made, "1.1.0", package=package)
        kind, summary = _item(report, "migrations_tested")
        assert kind == "fail" and "V001__rewards.sql" in summary and "V002__points.sql" in summary

        # Production already has V001 (its journal says so); staging verified V002 once,
        # but with a different file: still untested.
        prod = made.record_verified("production", "1.0.0")
        made.store.write_plan(prod, ["migrate"])
        made.store.record_step(
            prod, "migrate", "succeeded", outputs={"files": [{"version": "1", "checksum": sha1}]}
        )
        made.store.put("database.verified.staging", {"checksums": {"1": sha1, "2": "0" * 64}})
        kind, summary = _item(_checklist(made, "1.1.0", package=package), "migrations_tested")
        assert kind == "fail" and summary.endswith("V002__points.sql")

        made.store.put("database.verified.staging", {"checksums": {"1": sha1, "2": sha2}})
        kind, summary = _item(_checklist(made, "1.1.0", package=package), "migrations_tested")
        assert kind == "pass" and "1 pending migration" in summary

        no_migrations = _checklist(made, "1.1.0")  # the directory package has none
        assert _item(no_migrations, "migrations_tested")[0] == "not-applicable"
    finally:
        made.store.close()


def test_no_database_means_migrations_not_applicable(project: PolicyProject) -> None:
    """Without a database the migrations item is not applicable."""
    kind, summary = _item(_checklist(project, "1.1.0"), "migrations_tested")
    assert (kind, summary) == ("not-applicable", "no database configured for this environment")


def test_report_is_json_ready(project: PolicyProject) -> None:
    """The checklist report serialises with every item, result and evidence."""
    document = json.loads(json.dumps(_checklist(project, "1.1.0").to_dict()))
    assert len(document["items"]) == 9
    assert {i["result"] for i in document["items"]} <= {v.value for v in VerdictKind}
