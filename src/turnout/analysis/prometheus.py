"""Metrics from a Prometheus server's HTTP API (PromQL, queries configurable).

Traffic comes from three queries over *cumulative counters* (requests, errors,
latency histogram by `le`), read with /api/v1/query_range at `step`
resolution. The counts of the bucket that starts at `t` are the differences of
the counters between `t` and `t + step`; a counter that goes down was reset
and counts from zero. Instant values (business checks) use /api/v1/query.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import httpx

from turnout.analysis.provider import ProviderChoice
from turnout.config.analysis import PrometheusConfig
from turnout.errors import IntegrationError
from turnout.traffic import SecondBucket, bucket_index

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig

Series = dict[int, float]
"""Values of one series by (integer-aligned) step time."""


class PrometheusClient:
    """The two documented query endpoints, with errors translated to IntegrationError."""

    def __init__(self, settings: PrometheusConfig, *, config_file: str = "turnout.toml") -> None:
        self.settings = settings
        headers: dict[str, str] = {}
        if settings.token is not None:
            token = settings.token.resolve(file=config_file, key="analysis.prometheus.token")
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=settings.url.rstrip("/"), headers=headers, timeout=settings.timeout
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        where = f"Prometheus {self.settings.url}{path}"
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise IntegrationError(f"{where}: no answer ({type(exc).__name__}: {exc})") from exc
        try:
            body = response.json()
        except ValueError:
            raise IntegrationError(
                f"{where}: HTTP {response.status_code}, body is not JSON"
            ) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            problem = body.get("error", "unknown error") if isinstance(body, dict) else body
            kind = body.get("errorType", "error") if isinstance(body, dict) else "error"
            raise IntegrationError(
                f"{where}: HTTP {response.status_code}, {kind}: {problem}"
                f" (query {params.get('query', '')!r})"
            )
        data = body.get("data")
        if not isinstance(data, dict):
            raise IntegrationError(f"{where}: answer has no data")
        return data

    def query(self, promql: str, at: float | None = None) -> dict[str, Any]:
        """Instant query: the `data` object (resultType and result)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = _fmt(at)
        return self._get("/api/v1/query", params)

    def query_range(
        self, promql: str, start: float, end: float, step: float
    ) -> list[dict[str, Any]]:
        """Range query: the list of series (`metric` labels and `values` pairs)."""
        data = self._get(
            "/api/v1/query_range",
            {"query": promql, "start": _fmt(start), "end": _fmt(end), "step": _fmt(step)},
        )
        if data.get("resultType") != "matrix":
            raise IntegrationError(
                f"Prometheus {self.settings.url}: query_range of {promql!r} returned"
                f" {data.get('resultType')!r}, expected a matrix"
            )
        result = data.get("result", [])
        return result if isinstance(result, list) else []

    def value(self, promql: str, at: float | None = None) -> float | None:
        """One number from an instant query (a vector's values are summed); None if empty."""
        data = self.query(promql, at)
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar" and isinstance(result, list) and len(result) == 2:
            return float(result[1])
        if kind == "vector" and isinstance(result, list):
            if not result:
                return None
            return sum(float(item["value"][1]) for item in result)
        raise IntegrationError(
            f"Prometheus {self.settings.url}: {promql!r} returned {kind!r}, expected a number"
        )


class PrometheusProvider:
    """Traffic buckets built from PromQL counters."""

    name = "prometheus"

    def __init__(
        self,
        settings: PrometheusConfig,
        *,
        environment: str = "",
        config_file: str = "turnout.toml",
    ) -> None:
        self.settings = settings
        self.step = settings.step
        self.settle = settings.settle
        self.environment = environment
        self.client = PrometheusClient(settings, config_file=config_file)

    def close(self) -> None:
        self.client.close()

    def _promql(self, template: str, slot: str) -> str:
        return template.replace("{slot}", slot).replace("{env}", self.environment)

    def buckets(self, slot: str, since: float, until: float | None = None) -> list[SecondBucket]:
        step = self.step
        end_time = time.time() if until is None else until
        first = math.ceil(since / step) * step
        last = math.floor(end_time / step) * step - step  # last bucket that has ended
        if last < first:
            return []
        start, end = first, last + step

        requests = self._single(self.settings.requests_query, slot, start, end)
        if not requests:
            return []
        errors = self._single(self.settings.errors_query, slot, start, end)
        latency = self._histogram(slot, start, end)
        if not latency:
            raise IntegrationError(
                f"Prometheus {self.settings.url}: the latency query returned no data while"
                f" the requests query did (analysis.prometheus.latency_query)"
            )
        bounds = sorted(latency)
        out: list[SecondBucket] = []
        t = first
        while t <= last + 1e-9:
            a, b = _key(t), _key(t + step)
            count = _increase(requests, a, b)
            if count is not None:
                failed = min(_increase(errors, a, b) or 0, count)
                bucket = SecondBucket(second=int(t), count=count)
                if count - failed:
                    bucket.status["ok"] = count - failed
                if failed:
                    bucket.status["5xx"] = failed
                previous = 0
                for le in bounds:
                    cumulative = _increase(latency[le], a, b) or 0
                    in_bucket = max(cumulative - previous, 0)
                    previous = max(cumulative, previous)
                    if in_bucket:
                        bucket.latency[bucket_index(le * 1000.0)] += in_bucket
                out.append(bucket)
            t += step
        return out

    def _single(self, template: str, slot: str, start: float, end: float) -> Series:
        result = self.client.query_range(self._promql(template, slot), start, end, self.step)
        if len(result) > 1:
            raise IntegrationError(
                f"Prometheus {self.settings.url}: {self._promql(template, slot)!r} returned"
                f" {len(result)} series; wrap it in sum(...) so it returns one"
            )
        return _values(result[0]) if result else {}

    def _histogram(self, slot: str, start: float, end: float) -> dict[float, Series]:
        template = self.settings.latency_query
        result = self.client.query_range(self._promql(template, slot), start, end, self.step)
        out: dict[float, Series] = {}
        for series in result:
            le = series.get("metric", {}).get("le")
            if le is None:
                raise IntegrationError(
                    f"Prometheus {self.settings.url}: latency series without an `le` label;"
                    " use sum by (le) (..._bucket{...})"
                )
            out[math.inf if le in {"+Inf", "Inf", "inf"} else float(le)] = _values(series)
        return out


def _fmt(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _key(t: float) -> int:
    # Step times as integer milliseconds, so float steps compare exactly.
    return round(t * 1000)


def _values(series: dict[str, Any]) -> Series:
    return {_key(float(ts)): float(v) for ts, v in series.get("values", [])}


def _increase(series: Series, a: int, b: int) -> int | None:
    """Counter increase between two step times; None when either end has no sample."""
    if a not in series or b not in series:
        return None
    before, after = series[a], series[b]
    delta = after if after < before else after - before  # a decrease is a counter reset
    if math.isnan(delta) or delta < 0:
        return None
    return round(delta)


def prometheus_provider(
    config: LoadedConfig, env: EnvironmentConfig, target: object
) -> ProviderChoice:
    """The `prometheus` metrics provider: the server of [analysis.prometheus]."""
    settings = env.analysis.prometheus
    assert settings is not None  # validated with the configuration
    return ProviderChoice(
        PrometheusProvider(settings, environment=env.name, config_file=str(config.path)),
        f"Prometheus at {settings.url}",
    )
