"""HTTP checks that say what they mean: nested JSON paths and the `{version}` placeholder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.webhook_server import FakeHttpServer, RecordedRequest, Response, json_response
from tests.support.project import fake_project
from turnout.config.checks import HttpCheck
from turnout.runbook.http_checks import run_check

RUNNING = "0.64.8"


class DatasetteLike(FakeHttpServer):
    """Answers like Datasette's `/-/versions.json`: the release is nested two levels down."""

    def handle(self, request: RecordedRequest) -> Response:
        if request.path == "/-/versions.json":
            return json_response(
                200,
                {"python": {"version": "3.11.2"}, "datasette": {"version": RUNNING}},
            )
        if request.path == f"/-/release/{RUNNING}":
            return json_response(200, {"plugins": [{"name": "datasette-cluster-map"}]})
        return json_response(404, {"error": "not found"})


@pytest.fixture
def app() -> Iterator[DatasetteLike]:
    """A local HTTP server standing in for a Datasette slot."""
    with DatasetteLike() as server:
        yield server


def _check(app: DatasetteLike, check: HttpCheck, version: str | None = None) -> tuple[bool, str]:
    with httpx.Client() as client:
        result = run_check(client, app.url, check, version=version)
    return result.ok, result.problem


def test_dotted_key_reads_a_nested_field(app: DatasetteLike) -> None:
    """`datasette.version` is looked up inside the `datasette` object, not as a top-level key."""
    check = HttpCheck(path="/-/versions.json", expect_json={"datasette.version": RUNNING})
    assert _check(app, check) == (True, "")
    wrong = HttpCheck(path="/-/versions.json", expect_json={"datasette.version": "0.65"})
    assert _check(app, wrong) == (False, f"datasette.version is '{RUNNING}', expected '0.65'")


def test_paths_index_lists_and_report_missing_fields(app: DatasetteLike) -> None:
    """Digits index lists; a path that leads nowhere fails as missing, even against null."""
    path = f"/-/release/{RUNNING}"
    listed = HttpCheck(path=path, expect_json={"plugins.0.name": "datasette-cluster-map"})
    assert _check(app, listed) == (True, "")
    absent = HttpCheck(path="/-/versions.json", expect_json={"datasette.build": None})
    assert _check(app, absent) == (False, "datasette.build is missing, expected None")


def test_version_placeholder_confirms_the_release_a_slot_runs(app: DatasetteLike) -> None:
    """`{version}` in the expected value and the path is the release the slot was given."""
    check = HttpCheck(path="/-/versions.json", expect_json={"datasette.version": "{version}"})
    assert _check(app, check, version=RUNNING) == (True, "")
    ok, problem = _check(app, check, version="0.65.0")
    assert not ok and problem == f"datasette.version is '{RUNNING}', expected '0.65.0'"
    by_path = HttpCheck(path="/-/release/{version}")
    assert _check(app, by_path, version=RUNNING) == (True, "")
    assert _check(app, by_path, version="0.65.0")[0] is False


def test_smoke_check_with_version_placeholder_in_a_real_deploy(tmp_path: Path) -> None:
    """`turnout deploy` fills `{version}` in smoke and health checks with the deployed release."""
    check = '\n[[checks.{}]]\npath = "/health"\nexpect_json = {{ version = "{{version}}" }}\n'
    project = fake_project(tmp_path, extra=check.format("smoke") + check.format("health"))
    project.set_slots({"production": "1.0.0", "blue": None})
    done = project.turnout("deploy", "--env", project.env, "--version", "1.1.0", "--yes")
    assert done.returncode == 0, done.stderr
    assert project.slots()["production"] == "1.1.0"
