"""`turnout report` on the command line: the figures, the configured limits, --by, --json
and --html (and what it says without the plotting library)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.project import fake_project
from tests.support.report_history import DAYS, UNTIL, untidy_month
from turnout import api
from turnout.cli.main import main


def test_report_shows_the_configured_limits_and_the_runbooks_actions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Limits set in [analysis] are the targets, the runbook's named beside them."""
    limits = "\n[environments.web.analysis]\nmax_error_rate = 0.01\nmax_p95_ms = 800\n"
    config = fake_project(tmp_path / "p", extra=limits).config
    assert main(["report", "--env", "web", "--json", "--config", str(config)]) == 0
    (web,) = json.loads(capsys.readouterr().out)["environments"]
    error_rate, p95 = web["success"]["error_rate"], web["success"]["p95_ms"]
    assert (error_rate["target"], error_rate["runbook_target"]) == (0.01, 0.001)
    assert (p95["target"], p95["configured"]) == (800, True)
    assert main(["report", "--env", "web", "--config", str(config)]) == 0
    shown = capsys.readouterr().err
    assert "target < 1 % (configured; runbook: 0.1 %)" in shown
    assert "target < 800 ms (configured; runbook: 500 ms)" in shown
    assert "nothing measured" in shown


def test_report_text_json_and_trend_of_an_untidy_month(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The text names each measure with its sample and 2024 tier, each missed metric with
    the runbook's action, and a row per week with its changes; --json is the API's document."""
    project = untidy_month(tmp_path / "shop")
    argv = ["report", "--env", "web", "--days", "400", "--by", "week"]
    assert main([*argv, "--config", str(project.config)]) == 0
    shown = capsys.readouterr().err
    assert "change fail rate" in shown and "(DORA 2024)" in shown
    assert "MISSED: Review deployment process" in shown
    assert "deployment rework rate" in shown and "no tier (not in the 2024 clusters)" in shown
    assert "2026-W47" in shown and "Δ deployments -3" in shown
    result = api.report("web", days=DAYS, by="week", until=UNTIL, config=project.config)
    document = json.loads(json.dumps(result.to_dict(), default=str))
    web = document["environments"][0]
    assert web["dora"]["change_fail_rate"]["count"] == 3
    assert [row["label"] for row in web["trend"]][:2] == ["2026-W45", "2026-W46"]


def test_bad_grouping_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--by accepts week or month only: exit 2, nothing read."""
    config = fake_project(tmp_path / "p").config
    assert main(["report", "--by", "day", "--config", str(config)]) == 2
    assert "day" in capsys.readouterr().err


def test_html_without_the_plotting_library_says_what_to_install(tmp_path: Path) -> None:
    """Where matplotlib cannot be imported, --html is bad input naming the extra; no file."""
    config = fake_project(tmp_path / "p").config
    out = tmp_path / "report.html"
    # A Python in which `import matplotlib` fails, as in an install without the extra.
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['matplotlib'] = None\n")
    done = subprocess.run(
        [sys.executable, "-m", "turnout", "report", "--html", str(out), "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(blocker)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'turnout[report]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
