"""The Prometheus provider against a real HTTP server speaking the documented query API.

The server keeps cumulative counter samples (as Prometheus would after scraping
the router's /metrics) and answers /api/v1/query_range and /api/v1/query with
the documented JSON: instant value at each step = the latest sample at or
before it. A tiny PromQL subset is understood: the selector strings the
default configuration sends, and a scalar() for business checks.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from turnout.analysis.business import run_business_check
from turnout.analysis.prometheus import PrometheusClient, PrometheusProvider
from turnout.config.analysis import BusinessCheck, PrometheusConfig
from turnout.errors import IntegrationError
from turnout.traffic import LATENCY_BOUNDS_MS, SecondBucket, bucket_index, merge

T0 = 1_800_000_000  # a round unix time for the samples
DEFAULTS = PrometheusConfig(url="http://unused")


@dataclass
class Samples:
    """Cumulative counters by query, sampled every `interval` seconds from T0."""

    requests: dict[int, float] = field(default_factory=dict)
    errors: dict[int, float] = field(default_factory=dict)
    latency: dict[str, dict[int, float]] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    token: str | None = None


def counters_from(buckets: list[SecondBucket], interval: int) -> Samples:
    """Cumulative samples of the buckets' counts, one sample every `interval` seconds."""
    samples = Samples()
    total = SecondBucket(second=0)
    by_second = {b.second: b for b in buckets}
    last = max(by_second)
    for t in range(T0, last + 2):
        if (t - T0) % interval == 0:
            samples.requests[t] = float(total.count)
            samples.errors[t] = float(total.errors)
            cumulative = 0
            for bound, count in zip(LATENCY_BOUNDS_MS, total.latency, strict=True):
                cumulative += count
                le = "+Inf" if math.isinf(bound) else repr(bound / 1000)
                samples.latency.setdefault(le, {})[t] = float(cumulative)
        if t in by_second:
            total = merge([total, by_second[t]])
    return samples


def _at(series: dict[int, float], t: float) -> float | None:
    earlier = [ts for ts in series if ts <= t]
    return series[max(earlier)] if earlier else None


class _Handler(BaseHTTPRequestHandler):
    samples: Samples

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        s = self.samples
        if s.token is not None and self.headers.get("Authorization") != f"Bearer {s.token}":
            self._send(401, {"status": "error", "errorType": "auth", "error": "unauthorized"})
            return
        query = params.get("query", "")
        s.queries.append(query)
        if url.path == "/api/v1/query_range":
            self._range(query, float(params["start"]), float(params["end"]), float(params["step"]))
        elif url.path == "/api/v1/query":
            self._instant(query)
        else:
            self._send(404, {"status": "error", "errorType": "not_found", "error": url.path})

    def _range(self, query: str, start: float, end: float, step: float) -> None:
        s = self.samples
        series: list[tuple[dict[str, str], dict[int, float]]]
        if query == DEFAULTS.requests_query.replace("{slot}", "production"):
            series = [({}, s.requests)]
        elif query == DEFAULTS.errors_query.replace("{slot}", "production"):
            series = [({}, s.errors)]
        elif query == DEFAULTS.latency_query.replace("{slot}", "production"):
            series = [({"le": le}, values) for le, values in s.latency.items()]
        elif query == "two_series":
            series = [({"a": "1"}, s.requests), ({"a": "2"}, s.requests)]
        else:
            self._send(400, {"status": "error", "errorType": "bad_data", "error": "parse error"})
            return
        result = []
        for labels, values in series:
            points = []
            t = start
            while t <= end + 1e-9:
                value = _at(values, t)
                if value is not None:
                    points.append([t, str(value)])
                t += step
            if points:
                result.append({"metric": labels, "values": points})
        self._send(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})

    def _instant(self, query: str) -> None:
        if query.startswith("scalar("):
            data = {"resultType": "scalar", "result": [T0, query[len("scalar(") : -1]]}
        elif query == "empty":
            data = {"resultType": "vector", "result": []}
        else:
            data = {
                "resultType": "vector",
                "result": [
                    {"metric": {"job": "a"}, "value": [T0, "3"]},
                    {"metric": {"job": "b"}, "value": [T0, "4"]},
                ],
            }
        self._send(200, {"status": "success", "data": data})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def prometheus() -> Iterator[tuple[str, Samples]]:
    """A local server answering the Prometheus query API from a Samples record."""
    samples = Samples()
    handler = type("Handler", (_Handler,), {"samples": samples})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", samples
    finally:
        server.shutdown()
        server.server_close()


def _load(samples: Samples, new: Samples) -> None:
    samples.requests, samples.errors, samples.latency = new.requests, new.errors, new.latency


def traffic(seconds: int) -> list[SecondBucket]:
    """Known per-second traffic: 10 + s % 7 requests, one error every third second."""
    out = []
    for i in range(seconds):
        bucket = SecondBucket(second=T0 + i)
        for j in range(10 + i % 7):
            bucket.add(500 if (i % 3 == 0 and j == 0) else 200, 40 + 60 * (j % 5))
        out.append(bucket)
    return out


def test_per_second_buckets_match_the_counters(prometheus: tuple[str, Samples]) -> None:
    """With 1 s samples the provider rebuilds every second's counts and latency histogram."""
    url, samples = prometheus
    known = traffic(60)
    _load(samples, counters_from(known, interval=1))
    provider = PrometheusProvider(PrometheusConfig(url=url, step=1.0))
    try:
        got = provider.buckets("production", T0, T0 + 60)
    finally:
        provider.close()
    assert [b.second for b in got] == [b.second for b in known]
    for mine, theirs in zip(got, known, strict=True):
        assert mine.count == theirs.count
        assert mine.errors == theirs.errors
        assert mine.latency == theirs.latency


def test_scrape_interval_coarser_than_the_step_keeps_totals(
    prometheus: tuple[str, Samples],
) -> None:
    """Samples every 15 s: counts land in the step where a sample appears; totals are exact."""
    url, samples = prometheus
    known = traffic(90)
    _load(samples, counters_from(known, interval=15))
    provider = PrometheusProvider(PrometheusConfig(url=url, step=1.0))
    try:
        got = provider.buckets("production", T0, T0 + 90)
    finally:
        provider.close()
    total, expected = merge(got), merge(known)
    assert total.count == expected.count
    assert total.errors == expected.errors
    assert total.latency == expected.latency
    assert {b.second for b in got if b.count} <= {T0 + 15 * i - 1 for i in range(1, 7)}


def test_counter_reset_counts_from_zero(prometheus: tuple[str, Samples]) -> None:
    """A counter that drops (the router restarted) is read as counting again from zero."""
    url, samples = prometheus
    known = traffic(10)
    counters = counters_from(known, interval=1)
    restart = T0 + 6
    for t in list(counters.requests):
        if t >= restart:
            counters.requests[t] -= counters.requests[restart - 1]
            counters.errors[t] -= counters.errors[restart - 1]
            for series in counters.latency.values():
                series[t] -= series[restart - 1]
    _load(samples, counters)
    provider = PrometheusProvider(PrometheusConfig(url=url))
    try:
        got = {b.second: b.count for b in provider.buckets("production", T0, T0 + 10)}
    finally:
        provider.close()
    assert got[restart - 1] == 0 + counters.requests[restart]
    assert got[T0 + 7] == known[7].count


def test_queries_are_filled_in_and_the_token_sent(prometheus: tuple[str, Samples]) -> None:
    """{slot} is substituted in each query, and a configured bearer token is sent."""
    url, samples = prometheus
    _load(samples, counters_from(traffic(5), interval=1))
    samples.token = "s3cret"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PROM_TOKEN", "s3cret")
        provider = PrometheusProvider(
            PrometheusConfig.model_validate({"url": url, "token": "env:PROM_TOKEN"})
        )
    try:
        assert len(provider.buckets("production", T0, T0 + 5)) == 5
    finally:
        provider.close()
    assert samples.queries[0] == 'sum(turnout_slot_requests_total{slot="production"})'


def test_errors_are_translated(prometheus: tuple[str, Samples]) -> None:
    """A PromQL error and a query returning several series become IntegrationErrors."""
    url, samples = prometheus
    _load(samples, counters_from(traffic(5), interval=1))
    bad = PrometheusProvider(PrometheusConfig(url=url, requests_query="nonsense{"))
    several = PrometheusProvider(PrometheusConfig(url=url, requests_query="two_series"))
    try:
        with pytest.raises(IntegrationError, match="bad_data: parse error"):
            bad.buckets("production", T0, T0 + 5)
        with pytest.raises(IntegrationError, match="wrap it in sum"):
            several.buckets("production", T0, T0 + 5)
    finally:
        bad.close()
        several.close()


def test_unreachable_server_is_an_integration_error() -> None:
    """Nothing listening: an IntegrationError naming the server, not a traceback."""
    provider = PrometheusProvider(PrometheusConfig(url="http://127.0.0.1:9", timeout=2))
    try:
        with pytest.raises(IntegrationError, match=r"127\.0\.0\.1:9"):
            provider.buckets("production", T0, T0 + 5)
    finally:
        provider.close()


def test_business_checks_read_instant_values(prometheus: tuple[str, Samples]) -> None:
    """A vector is summed, a scalar read; an empty answer is "no data", never a failure."""
    import httpx

    url, _ = prometheus
    client = PrometheusClient(PrometheusConfig(url=url))
    try:
        assert client.value("sum(rewards)") == 7.0
        assert client.value("scalar(0)") == 0.0
        with httpx.Client() as http:

            def check(query: str) -> tuple[bool | None, str]:
                result = run_business_check(
                    BusinessCheck(name="rewards", query=query, op=">", threshold=0),
                    prometheus=client,
                    client=http,
                    production_url="http://unused",
                    substitutions={"slot": "production"},
                )
                return result.ok, result.problem

            assert check("rewards_processed") == (True, "")
            assert check("scalar(0)") == (False, "0 is not > 0")
            assert check("empty") == (None, "no data")
    finally:
        client.close()


def test_bucket_index_agrees_with_prometheus_le_labels() -> None:
    """Every router `le` label maps back to the bucket it came from."""
    for index, bound in enumerate(LATENCY_BOUNDS_MS[:-1]):
        assert bucket_index(float(repr(bound / 1000)) * 1000.0) == index
