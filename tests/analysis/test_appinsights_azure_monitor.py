"""Azure metrics providers (Application Insights KQL, Azure Monitor) through the official
clients against the fake Azure, whose front door records real requests to the slots."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fakes.azure_world import AzureWorld, running_azure, write_azure_config
from tests.support.local_fixtures import make_package
from tests.support.waiting import wait_until
from turnout.analysis.provider import MetricsProvider, choose_provider
from turnout.targets.azure.target import AzureTarget
from turnout.targets.registry import create_target
from turnout.traffic import merge, quantile_ms


@dataclass
class Metrics:
    """A fake Azure with 1.0.0 in production, its target and a provider."""

    world: AzureWorld
    target: AzureTarget
    provider: MetricsProvider


def _insights(delay: float = 0.0) -> str:
    return (
        '\n[analysis]\nprovider = "appinsights"\n[analysis.appinsights]\n'
        'workspace_id = "11111111-2222-3333-4444-555555555555"\n'
        f'endpoint = "{{endpoint}}"\nstep = 1\ningestion_delay = {delay}\n'
    )


@contextmanager
def _metrics_with_endpoint(
    folder: Path, monkeypatch: pytest.MonkeyPatch, template: str
) -> Iterator[Metrics]:
    with running_azure(folder / "azure") as world:
        for key, value in world.apply().items():
            monkeypatch.setenv(key, value)
        world.server.install(
            "production", make_package(folder / "packages", "1.0.0"), {"TURNOUT_VERSION": "1.0.0"}
        )
        analysis = template.replace("{endpoint}", world.server.url)
        config = write_azure_config(world, folder / "project", extra=analysis)
        env = config.env("production")
        target = create_target(config, env)
        assert isinstance(target, AzureTarget)
        choice = choose_provider(config, env, target)
        assert choice.provider is not None, choice.note
        try:
            yield Metrics(world, target, choice.provider)
        finally:
            choice.provider.close()
            target.close()


def _send(url: str, paths: list[str]) -> None:
    with httpx.Client(timeout=10) as client:
        for path in paths:
            client.get(url + path)


def test_appinsights_counts_sampled_requests_failures_and_latency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KQL over AppRequests: sampling weight restores the request count, 5xx are errors,
    4xx failures are kept apart, and p95 comes from the latency histogram."""
    with _metrics_with_endpoint(tmp_path, monkeypatch, _insights()) as m:
        m.world.server.sampling = 2
        started = time.time()
        url = m.target.production_url()
        _send(url, ["/health"] * 16 + ["/status?code=503"] * 4 + ["/nothing-here"] * 4)
        _send(url, ["/slow?ms=300"] * 4)

        def everything() -> bool:
            return merge(m.provider.buckets("production", started - 1)).count == 28

        # A bin is handed out once it has ended: wait for the last second to end.
        wait_until(everything, timeout=10, what="all requests in settled bins")
        total = merge(m.provider.buckets("production", started - 1))
        # 14 rows kept, each standing for 2 requests.
        assert total.status == {"ok": 20, "5xx": 4, "4xx": 4}
        p95 = quantile_ms(total.latency, 0.95)
        assert p95 is not None and p95 >= 200
        m.target.ensure_slot("blue")
        assert m.provider.buckets("blue", started - 1) == []  # per slot: its own host only


def test_appinsights_hands_out_only_settled_bins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a 60 s ingestion delay, traffic of the last minute is not handed out (it may not
    have arrived); traffic older than that is; a window asked for twice is queried once."""
    with _metrics_with_endpoint(tmp_path, monkeypatch, _insights(60.0)) as m:
        assert m.provider.settle == 60.0
        now = time.time()
        m.world.server.record_traffic("production", now - 30, 500, 20.0, count=50)
        m.world.server.record_traffic("production", now - 120, 200, 20.0, count=40)
        total = merge(m.provider.buckets("production", now - 300))
        assert (total.count, total.errors) == (40, 0)
        # Asked again before another bin settled: answered without a second query.
        again = merge(m.provider.buckets("production", now - 300))
        with m.world.server.lock:
            queries = [r for r in m.world.server.requests if r.path.endswith("/query")]
        assert again.count == 40 and len(queries) <= 2


def test_azure_monitor_reads_slot_metrics_and_stops_at_missing_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests/Http5xx/HttpResponseTime per slot resource; a minute Azure has no value for
    yet ends the series instead of counting as zero, and is read once it has one."""
    analysis = (
        '\n[analysis]\nprovider = "azure-monitor"\n[analysis.azure_monitor]\ningestion_delay = 0\n'
    )
    with _metrics_with_endpoint(tmp_path, monkeypatch, analysis) as m:
        server = m.world.server
        minute = (int(time.time()) // 60) * 60
        server.record_traffic("production", minute - 180 + 5, 200, 120.0, count=30)
        server.record_traffic("production", minute - 180 + 6, 503, 120.0, count=3)
        server.record_traffic("production", minute - 120 + 5, 200, 80.0, count=20)
        # Minutes that ended more than 30 s ago have values, later ones not yet.
        server.metrics_delay = time.time() - minute + 90
        early = m.provider.buckets("production", minute - 180, minute)
        assert [(b.second, b.count, b.errors) for b in early] == [(minute - 180, 33, 3)]
        server.metrics_delay = 0  # the rest has arrived: asked again, it is read
        buckets = m.provider.buckets("production", minute - 180, minute)
        assert [(b.second, b.count, b.errors) for b in buckets] == [
            (minute - 180, 33, 3),
            (minute - 120, 20, 0),
            (minute - 60, 0, 0),
        ]
