"""Per-slot, per-second traffic counters: the analysis source and Prometheus /metrics."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import httpx

from tests.support.local_fixtures import free_port, running_host
from tests.support.waiting import wait_until
from turnout.model import Release
from turnout.targets.local.metrics import TrafficCounters
from turnout.targets.protocol import PRODUCTION
from turnout.traffic import TrafficSource, merge, quantile_ms


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_counters_keep_an_hour_and_hand_out_finished_seconds() -> None:
    """Seconds are kept for the retention period; the second still counting is not handed out."""
    clock = _Clock(1_000_000.0)
    counters = TrafficCounters(retention=3600, clock=clock)
    counters.record("production", "1.0.0", 200, 4.0)
    clock.now += 1
    counters.record("production", "1.0.0", 503, 120.0)
    counters.record("production", "1.0.0", None, 9000.0)
    assert [b.second for b in counters.traffic("production", 0)] == [1_000_000]
    clock.now += 3599
    counters.record("production", "1.0.0", 200, 1.0)
    seconds = counters.traffic("production", 0)
    assert [b.second for b in seconds] == [1_000_000, 1_000_001]
    assert seconds[1].status == {"5xx": 1, "err": 1} and seconds[1].errors == 2
    clock.now += 1  # 1_000_000 is now more than an hour old; 1_000_001 exactly an hour
    counters.record("production", "1.0.0", 200, 1.0)
    assert counters.traffic("production", 0)[0].second == 1_000_001
    assert counters.traffic("blue", 0) == []


def _counted_at_least(source: TrafficSource, since: int, count: int) -> bool:
    return merge(source.traffic(PRODUCTION, since)).count >= count


def test_router_counts_every_request_per_slot_and_second(tmp_path: Path) -> None:
    """Requests through the router are counted under production with status classes."""
    for host in running_host(tmp_path):
        target = host.target
        assert isinstance(target, TrafficSource)
        target.deploy(PRODUCTION, Release("1.0.0", host.package("1.0.0")))
        started = time.time()
        with httpx.Client(base_url=target.production_url(), timeout=10) as client:
            for _ in range(40):
                client.get("/health")
            for _ in range(5):
                client.get("/status?code=500")
            for _ in range(5):
                client.get("/status?code=404")
        # Only finished seconds are handed out, and the router counts a request just after
        # answering it: wait until the last one is in a finished second.
        wait_until(partial(_counted_at_least, target, int(started), 50))
        total = merge(target.traffic(PRODUCTION, int(started)))
        assert total.count == 50
        assert total.status == {"2xx": 40, "5xx": 5, "4xx": 5}
        assert total.errors == 5
        p50 = quantile_ms(total.latency, 0.5)
        # Latencies are recorded in milliseconds (a loopback /health is far below 10 s).
        assert p50 is not None and 0 < p50 < 10_000
        assert target.traffic("blue", started) == []
        slot = target.status()["slots"][PRODUCTION]["traffic"]
        assert slot["requests_60s"] == 50 and slot["errors_60s"] == 5


def test_prometheus_text_on_metrics_port_and_admin(tmp_path: Path) -> None:
    """/metrics on the metrics address and the admin `metrics` call give Prometheus text."""
    port = free_port()
    for host in running_host(tmp_path, metrics_address=f"127.0.0.1:{port}"):
        target = host.target
        target.deploy(PRODUCTION, Release("1.0.0", host.package("1.0.0")))
        for _ in range(3):
            httpx.get(target.production_url() + "/status?code=503", timeout=5)
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
        line = 'turnout_slot_requests_total{slot="production",status="5xx",version="1.0.0"} 3.0'
        assert line in scraped.text
        assert 'turnout_slot_up{slot="production",version="1.0.0"} 1.0' in scraped.text
        assert "turnout_slot_request_duration_seconds_bucket" in scraped.text
        assert line in target.prometheus()
        assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 404
