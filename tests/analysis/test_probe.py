"""Verification traffic: marked requests, the rate cap, and the auto policy's shortfall."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.waiting import wait_until
from turnout.analysis.judge import Judge
from turnout.analysis.probe import Prober, ProbeRate, ProbeRequest
from turnout.config import load_config
from turnout.config.analysis import AnalysisConfig, ProbeConfig
from turnout.errors import BadInput
from turnout.model import Verdict, VerdictKind
from turnout.traffic import PROBE_HEADER, PROBE_USER_AGENT

CONFIG = """
[app]
name = "shop"

[environments.web]
target = { kind = "fake" }

"""


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str]] = []

    def do_GET(self) -> None:
        _Recorder.seen.append(
            (self.path, self.headers.get(PROBE_HEADER, ""), self.headers.get("User-Agent", ""))
        )
        status = 500 if self.path == "/broken" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def server() -> Iterator[str]:
    """A real HTTP server on loopback that records every request it gets."""
    _Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def test_probes_are_marked_paced_under_the_cap_and_measured(server: str) -> None:
    """Each probe carries the header and user agent; no second holds more than the cap; what
    the prober measured (including a failing path) is in its buckets and batch."""
    config = ProbeConfig(rate=40, concurrency=4)
    requests = [ProbeRequest("GET", "/health"), ProbeRequest("GET", "/broken")]
    prober = Prober(server, requests, config, deployment="7", phase="after-swap").start()
    wait_until(lambda: prober.batch.sent >= 100, timeout=30)
    batch = prober.stop()
    assert {(path, mark, agent) for path, mark, agent in _Recorder.seen} == {
        ("/health", "7", PROBE_USER_AGENT),
        ("/broken", "7", PROBE_USER_AGENT),
    }
    assert 0 < batch.peak_per_second <= 40
    assert batch.failed == batch.by_status["5xx"] and batch.failed >= batch.sent // 2 - 1
    seconds = prober.buckets(0)
    assert sum(b.probes for b in seconds) == sum(b.count for b in seconds) <= batch.sent
    assert Counter(path for path, _m, _a in _Recorder.seen)["/broken"] == batch.failed


def _verdict(requests: int, probes: int, seconds: float, error_rate: float = 0.0) -> Verdict:
    evidence = {
        "requests": requests,
        "probe_requests": probes,
        "observed_seconds": seconds,
        "error_rate": error_rate,
        "slow_rate": 0.0,
    }
    return Verdict(VerdictKind.INCONCLUSIVE, "", [], evidence)


def test_auto_sends_only_the_shortfall_and_the_cap_on_signs_of_trouble() -> None:
    """auto: enough live traffic means no probes, too little means the gap; errors above the
    tolerated rate mean the cap; always and off ignore the traffic."""
    analysis = AnalysisConfig(max_error_rate=0.01)
    judge = Judge(analysis)
    prober = Prober(
        "http://127.0.0.1:9", [ProbeRequest("GET", "/")], analysis.probe, deployment="1", phase="x"
    )
    auto = ProbeRate(prober, analysis.probe, judge)
    needed = judge.requests_needed()
    assert auto.wanted(_verdict(0, 0, 0.0)) == pytest.approx(needed / 20)
    busy = _verdict(500, 0, 10.0)  # 50 live rps: 552 more in 10 s need 55 rps, 5 from probes
    assert auto.wanted(busy) == pytest.approx((needed - 500) / 10 - 50)
    assert auto.wanted(_verdict(2000, 0, 10.0)) == 0.0
    assert auto.wanted(_verdict(200, 0, 10.0, error_rate=0.02)) == analysis.probe.rate
    always = ProbeRate(prober, ProbeConfig(mode="always"), judge)
    assert always.wanted(_verdict(2000, 0, 10.0)) == analysis.probe.rate
    assert ProbeRate(prober, ProbeConfig(mode="off"), judge).wanted(_verdict(0, 0, 0)) == 0.0


def test_non_idempotent_probe_requests_are_refused_unless_allowed(tmp_path: Path) -> None:
    """A POST probe is bad input naming the file and key, unless allow_non_idempotent says so."""
    path = tmp_path / "turnout.toml"
    probe = '[[analysis.probe.requests]]\nmethod = "POST"\npath = "/api/transactions"\n'
    path.write_text(CONFIG + probe)
    with pytest.raises(BadInput) as refused:
        load_config(path)
    assert str(path) in refused.value.message and "analysis.probe" in refused.value.message
    assert "not idempotent" in refused.value.message
    path.write_text(
        CONFIG
        + probe.replace(
            "[[analysis.probe.requests]]",
            "[analysis.probe]\nallow_non_idempotent = true\n[[analysis.probe.requests]]",
        )
    )
    assert load_config(path).env("web").analysis.probe.requests[0].method == "POST"
