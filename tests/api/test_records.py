"""turnout.api's incident and post-mortem records, and report and doctor, from Python."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.project import fake_project
from turnout import api
from turnout.errors import BadInput


def test_an_open_incident_is_listed_and_freezes_until_closed(tmp_path: Path) -> None:
    """Opened, listed as active and local, closed; closing again is bad input."""
    project = fake_project(tmp_path)
    opened = api.open_incident("db down", env="web", actor="ann", config=project.config)
    listed = api.incidents("web", active_only=True, config=project.config)
    assert [(i.id, i.source, i.opened_by) for i in listed.incidents] == [
        (str(opened.id), "local", "ann")
    ]
    assert api.close_incident(opened.id, actor="ann", config=project.config).closed_by == "ann"
    assert api.incidents("web", active_only=True, config=project.config).incidents == ()
    with pytest.raises(BadInput, match="no open incident"):
        api.close_incident(opened.id, config=project.config)


def test_postmortem_close_needs_an_http_link(tmp_path: Path) -> None:
    """A link that is not http(s) is bad input before the store is read."""
    project = fake_project(tmp_path)
    assert api.postmortems(config=project.config).to_dict() == []
    with pytest.raises(BadInput, match="not an http"):
        api.close_postmortem(1, link="ftp://x", config=project.config)


def test_report_counts_deployments_and_matches_the_cli(tmp_path: Path) -> None:
    """One verified deployment is counted; to_dict is the document `report --json` prints."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    assert api.deploy("web", "1.1.0", config=project.config, actor="tester").exit_code == 0
    result = api.report("web", config=project.config)
    totals = result.environment("web").totals
    assert totals.counts.succeeded == 1 and totals.dora.deployment_frequency.deployments == 1
    until = result.generated_at.isoformat()
    printed = project.turnout("report", "--env", "web", "--json", "--until", until)
    assert json.loads(json.dumps(result.to_dict())) == json.loads(printed.stdout)


def test_doctor_probes_the_store_and_the_target(tmp_path: Path) -> None:
    """On the fake target both probes pass and nothing ends the command with an error."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    result = api.doctor("web", config=project.config)
    assert [p.name for p in result.probes][:2] == ["state store", "target"]
    assert result.ok and result.refusal() is None


def test_check_reports_problems_instead_of_raising(tmp_path: Path) -> None:
    """An invalid file comes back as problems with keys, and the error the command raises."""
    project = fake_project(tmp_path)
    assert api.check(project.config).valid
    project.config.write_text(project.config.read_text().replace('name = "shop"', "name = 3"))
    result = api.check(project.config)
    assert not result.valid and result.error is not None and result.error.exit_code == 2
    assert any(p.key == "app.name" for p in result.problems)
